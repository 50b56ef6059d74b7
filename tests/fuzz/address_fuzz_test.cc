// The address fuzzer's checks (fuzz/address_check.h) on every committed
// seed and regression input, in the normal suite.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>

#include "doctest/doctest.h"
#include "fuzz/address_check.h"
#include "tests/fuzz/fuzz_inputs.h"

namespace actnet::fuzz {
namespace {

void CheckAll(const std::string& dir) {
  for (const testing::FuzzInput& input : testing::ReadFuzzInputs(dir)) {
    const absl::Status s = CheckAddress(input.bytes);
    INFO(input.path, ": ", s.ToString());
    CHECK(s.ok());
  }
}

TEST_SUITE("address fuzz inputs") {
  TEST_CASE("every seed passes the address checks") {
    REQUIRE(testing::ReadFuzzInputs("fuzz/corpus/address").size() >= 5);
    CheckAll("fuzz/corpus/address");
  }

  TEST_CASE("every committed reproducer passes the address checks") {
    CheckAll("fuzz/regressions/address");
  }

  // Symptom: UBSan aborts in ParseCount ("signed integer overflow: 999999999
  // * 10") on a ?backlog= value longer than 9 characters. Cause: the digit
  // loop keeps multiplying after the length check has already failed. The
  // plain build hides the UB (the result is still an error); the ubsan
  // config catches it.
  TEST_CASE("a 10+ character backlog is an error, without overflowing int") {
    for (const char* url : {"tcp://:1?backlog=99999999999",
                            "tcp://:1?backlog=4294967296123",
                            "udp://239.1.1.1:1?multicast_if=99999999999"}) {
      const absl::Status s = CheckAddress(url);
      INFO(url, ": ", s.ToString());
      CHECK(s.ok());
    }
  }
}

}  // namespace
}  // namespace actnet::fuzz
