// The byte ring fuzzer's checks (fuzz/byte_ring_check.h) on every committed seed and
// regression input, in the normal suite.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>

#include "doctest/doctest.h"
#include "fuzz/byte_ring_check.h"
#include "tests/fuzz/fuzz_inputs.h"

namespace actnet::fuzz {
namespace {

void CheckAll(const std::string& dir) {
  for (const testing::FuzzInput& input : testing::ReadFuzzInputs(dir)) {
    const absl::Status s = CheckByteRing(input.bytes);
    INFO(input.path, ": ", s.ToString());
    CHECK(s.ok());
  }
}

TEST_SUITE("byte ring fuzz inputs") {
  TEST_CASE("every seed passes the byte ring checks") {
    REQUIRE(testing::ReadFuzzInputs("fuzz/corpus/byte_ring").size() >= 5);
    CheckAll("fuzz/corpus/byte_ring");
  }

  TEST_CASE("every committed reproducer passes the byte ring checks") {
    CheckAll("fuzz/regressions/byte_ring");
  }
}

}  // namespace
}  // namespace actnet::fuzz
