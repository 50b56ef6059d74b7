// Reads the committed fuzz inputs (seeds and regression reproducers) from
// the test's runfiles, so the regression tests feed every one of them to
// the checks the fuzzers run.
#ifndef ACTNET_TESTS_FUZZ_FUZZ_INPUTS_H_
#define ACTNET_TESTS_FUZZ_FUZZ_INPUTS_H_

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace actnet::testing {

struct FuzzInput {
  std::string path;   // relative to the workspace, e.g. fuzz/corpus/http/x
  std::string bytes;
};

// Every regular file under `dir` (relative to the workspace root, which is
// the working directory of a Bazel test), sorted by path; none if `dir`
// does not exist.
inline std::vector<FuzzInput> ReadFuzzInputs(const std::string& dir) {
  std::vector<FuzzInput> inputs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;  // follows runfiles symlinks
    std::ifstream in(entry.path(), std::ios::binary);
    inputs.push_back({entry.path().string(),
                      std::string(std::istreambuf_iterator<char>(in), {})});
  }
  std::sort(inputs.begin(), inputs.end(),
            [](const FuzzInput& a, const FuzzInput& b) { return a.path < b.path; });
  return inputs;
}

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_FUZZ_FUZZ_INPUTS_H_
