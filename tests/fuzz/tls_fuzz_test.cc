// The TLS fuzzer's checks (fuzz/tls_check.h) on every committed seed and
// regression input, in the normal suite.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>

#include "doctest/doctest.h"
#include "fuzz/tls_check.h"
#include "tests/fuzz/fuzz_inputs.h"

namespace actnet::fuzz {
namespace {

void CheckAll(const std::string& dir) {
  for (const testing::FuzzInput& input : testing::ReadFuzzInputs(dir)) {
    const absl::Status s = CheckTls(input.bytes);
    INFO(input.path, ": ", s.ToString());
    CHECK(s.ok());
  }
}

TEST_SUITE("tls fuzz inputs") {
  TEST_CASE("every seed passes the TLS checks") {
    REQUIRE(testing::ReadFuzzInputs("fuzz/corpus/tls").size() >= 5);
    CheckAll("fuzz/corpus/tls");
  }

  TEST_CASE("every committed reproducer passes the TLS checks") {
    CheckAll("fuzz/regressions/tls");
  }
}

}  // namespace
}  // namespace actnet::fuzz
