// The RESP fuzzer's checks (fuzz/resp_check.h) on every committed seed and
// regression input, in the normal suite.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "doctest/doctest.h"
#include "fuzz/resp_check.h"
#include "tests/fuzz/fuzz_inputs.h"

namespace actnet::fuzz {
namespace {

void CheckAll(const std::string& dir) {
  for (const testing::FuzzInput& input : testing::ReadFuzzInputs(dir)) {
    const absl::Status s = CheckResp(input.bytes);
    INFO(input.path, ": ", s.ToString());
    CHECK(s.ok());
  }
}

TEST_SUITE("RESP fuzz inputs") {
  TEST_CASE("every seed passes the RESP checks") {
    REQUIRE(testing::ReadFuzzInputs("fuzz/corpus/resp").size() >= 5);
    CheckAll("fuzz/corpus/resp");
  }

  TEST_CASE("every committed reproducer passes the RESP checks") {
    CheckAll("fuzz/regressions/resp");
  }

  // Symptom: the reply to "*1\r\n\n" is "-ERR Protocol error: expected
  // '$', got '\n'\r\n", which a client reads as an error line followed by
  // garbage. Cause: RespParser copies the unexpected byte verbatim into
  // error(), and a CR or LF there splits the RESP error line.
  TEST_CASE("a CR or LF where '$' belongs gives a one-line error reply") {
    for (const char* stream : {"*1\r\n\n", "*1\r\n\r", "*2\r\n$1\r\na\r\n\r\n"}) {
      const absl::Status s = CheckResp(absl::StrCat(absl::string_view("\0\0", 2), stream));
      INFO(absl::CHexEscape(stream), ": ", s.ToString());
      CHECK(s.ok());
    }
  }
}

}  // namespace
}  // namespace actnet::fuzz
