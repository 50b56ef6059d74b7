// The HTTP fuzzer's checks (fuzz/http_check.h) on every committed seed and
// regression input, in the normal suite.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>

#include "doctest/doctest.h"
#include "fuzz/http_check.h"
#include "tests/fuzz/fuzz_inputs.h"

namespace actnet::fuzz {
namespace {

void CheckAll(const std::string& dir) {
  for (const testing::FuzzInput& input : testing::ReadFuzzInputs(dir)) {
    const absl::Status s = CheckHttp(input.bytes);
    INFO(input.path, ": ", s.ToString());
    CHECK(s.ok());
  }
}

TEST_SUITE("HTTP fuzz inputs") {
  TEST_CASE("every seed passes the HTTP checks") {
    REQUIRE(testing::ReadFuzzInputs("fuzz/corpus/http").size() >= 5);
    CheckAll("fuzz/corpus/http");
  }

  TEST_CASE("every committed reproducer passes the HTTP checks") {
    CheckAll("fuzz/regressions/http");
  }
}

}  // namespace
}  // namespace actnet::fuzz
