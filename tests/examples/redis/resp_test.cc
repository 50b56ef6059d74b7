// RespParser: complete, partial, pipelined, inline and malformed requests,
// and the limits that keep hostile input cheap.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "examples/redis/resp.h"

#include <string>
#include <vector>

#include "doctest/doctest.h"

namespace actnet::redis {
namespace {

using Result = RespParser::Result;

std::vector<std::string> Strings(const RespParser& p) {
  return std::vector<std::string>(p.args().begin(), p.args().end());
}

TEST_SUITE("RespParser") {
  TEST_CASE("a complete multibulk request yields views into the input") {
    RespParser p;
    const std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    REQUIRE(p.Parse(in) == Result::kCommand);
    CHECK(p.consumed() == in.size());
    CHECK(Strings(p) == std::vector<std::string>{"SET", "k", "hello"});
    for (absl::string_view a : p.args()) {
      CHECK(a.data() >= in.data());
      CHECK(a.data() + a.size() <= in.data() + in.size());
    }
  }

  TEST_CASE("binary-safe bulks keep CR, LF and NUL bytes") {
    RespParser p;
    const std::string value("a\r\nb\0c", 6);
    const std::string in = "*2\r\n$4\r\nECHO\r\n$6\r\n" + value + "\r\n";
    REQUIRE(p.Parse(in) == Result::kCommand);
    CHECK(std::string(p.args()[1]) == value);
  }

  TEST_CASE("a request cut at every byte resumes to the same command") {
    const std::string in = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
    for (size_t cut = 0; cut < in.size(); ++cut) {
      RespParser p;
      CHECK(p.Parse(absl::string_view(in).substr(0, cut)) == Result::kNeedMore);
      REQUIRE(p.Parse(in) == Result::kCommand);
      CHECK(p.consumed() == in.size());
      CHECK(Strings(p) == std::vector<std::string>{"ECHO", "hello world"});
    }
  }

  TEST_CASE("bytes arriving one at a time parse once, at the last byte") {
    const std::string in = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    RespParser p;
    for (size_t n = 1; n < in.size(); ++n) {
      CHECK(p.Parse(absl::string_view(in).substr(0, n)) == Result::kNeedMore);
    }
    REQUIRE(p.Parse(in) == Result::kCommand);
    CHECK(Strings(p) == std::vector<std::string>{"GET", "key"});
  }

  TEST_CASE("a known bulk length is waited for without rescanning") {
    RespParser p;
    const std::string head = "*2\r\n$3\r\nSET\r\n$100000\r\n";
    std::string in = head + std::string(50000, 'x');
    CHECK(p.Parse(in) == Result::kNeedMore);
    CHECK(p.wanted() == head.size() + 100000 + 2);
    in += std::string(50000, 'x') + "\r\n";
    REQUIRE(p.Parse(in) == Result::kCommand);
    CHECK(p.args()[1].size() == 100000);
  }

  TEST_CASE("pipelined requests come out one by one, in order") {
    RespParser p;
    const std::string in =
        "*1\r\n$4\r\nPING\r\nECHO inline\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
    absl::string_view rest = in;
    std::vector<std::vector<std::string>> got;
    while (p.Parse(rest) == Result::kCommand) {
      got.push_back(Strings(p));
      rest.remove_prefix(p.consumed());
    }
    CHECK(rest.empty());
    CHECK(got == std::vector<std::vector<std::string>>{
                     {"PING"}, {"ECHO", "inline"}, {"GET", "a"}});
  }

  TEST_CASE("inline requests split on spaces and honour Redis's quoting") {
    RespParser p;
    REQUIRE(p.Parse("set  k \"a b\\x41\\n\" 'it\\'s'\r\n") == Result::kCommand);
    CHECK(Strings(p) == std::vector<std::string>{"set", "k", "a bA\n", "it's"});
    REQUIRE(p.Parse("PING\n") == Result::kCommand);
    CHECK(Strings(p) == std::vector<std::string>{"PING"});
    CHECK(p.Parse("PING") == Result::kNeedMore);
  }

  TEST_CASE("blank lines and empty multibulks are empty requests") {
    RespParser p;
    for (const char* in : {"\r\n", "   \n", "*0\r\n", "*-1\r\n"}) {
      REQUIRE(p.Parse(in) == Result::kCommand);
      CHECK(p.args().empty());
      CHECK(p.consumed() == std::string(in).size());
    }
  }

  TEST_CASE("malformed requests are protocol errors with Redis's words") {
    struct Case {
      std::string in;
      std::string error;
    };
    const std::vector<Case> cases = {
        {"*abc\r\n", "ERR Protocol error: invalid multibulk length"},
        {"*1x\r\n", "ERR Protocol error: invalid multibulk length"},
        {"*2\r\nfoo\r\n", "ERR Protocol error: expected '$', got 'f'"},
        {"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
        {"*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"},
        {"*1\r\n$3\r\nabcde\r\n",
         "ERR Protocol error: expected CRLF after bulk string"},
        {"*1\r\n$99999999999999999999999\r\n",
         "ERR Protocol error: invalid bulk length"},
        {"set \"unterminated\r\n",
         "ERR Protocol error: unbalanced quotes in request"},
        {"set \"a\"b\r\n", "ERR Protocol error: unbalanced quotes in request"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.in);
      RespParser p;
      REQUIRE(p.Parse(c.in) == Result::kError);
      CHECK(p.error() == c.error);
    }
  }

  TEST_CASE("lengths beyond the limits are refused before any allocation") {
    RespLimits limits;
    limits.max_bulk = 1024;
    limits.max_args = 8;
    limits.max_inline = 100;
    RespParser p(limits);
    CHECK(p.Parse("*1\r\n$1025\r\n") == Result::kError);
    CHECK(p.error() == "ERR Protocol error: invalid bulk length");
    CHECK(p.Parse("*1\r\n$2147483648\r\n") == Result::kError);
    CHECK(p.Parse("*9\r\n") == Result::kError);
    CHECK(p.error() == "ERR Protocol error: invalid multibulk length");
    CHECK(p.Parse("*8\r\n") == Result::kNeedMore);  // within the limit
    RespParser q(limits);
    CHECK(q.Parse(std::string(101, 'a')) == Result::kError);
    CHECK(q.error() == "ERR Protocol error: too big inline request");
    CHECK(q.Parse("*" + std::string(101, '1')) == Result::kError);
    CHECK(q.error() == "ERR Protocol error: too big mbulk count string");
    CHECK(q.Parse("*1\r\n$" + std::string(101, '1')) == Result::kError);
    CHECK(q.error() == "ERR Protocol error: too big bulk count string");
  }

  TEST_CASE("the default limits match the documented ones") {
    RespLimits limits;
    CHECK(limits.max_bulk == 64u << 20);
    CHECK(limits.max_inline == 64u << 10);
    RespParser p;
    CHECK(p.Parse("*1\r\n$67108865\r\n") == Result::kError);
    CHECK(p.Parse("*1\r\n$67108864\r\n") == Result::kNeedMore);
  }

  TEST_CASE("a parser is reusable after an error") {
    RespParser p;
    CHECK(p.Parse("*x\r\n") == Result::kError);
    REQUIRE(p.Parse("*1\r\n$4\r\nPING\r\n") == Result::kCommand);
    CHECK(Strings(p) == std::vector<std::string>{"PING"});
  }
}

TEST_SUITE("Reply encoders") {
  TEST_CASE("each RESP2 type encodes as Redis writes it") {
    std::string out;
    AppendSimple(&out, "OK");
    AppendError(&out, "ERR x");
    AppendInt(&out, -42);
    AppendBulk(&out, "ab");
    AppendBulk(&out, "");
    AppendNil(&out);
    AppendNilArray(&out);
    AppendArray(&out, 2);
    CHECK(out == "+OK\r\n-ERR x\r\n:-42\r\n$2\r\nab\r\n$0\r\n\r\n$-1\r\n*-1\r\n*2\r\n");
  }
}

}  // namespace
}  // namespace actnet::redis
