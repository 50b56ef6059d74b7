// http::Session without sockets: routing, pipelining, chunked bodies, the
// 400/404/405/413/431 answers, and keep-alive/close for HTTP/1.0 and 1.1.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "doctest/doctest.h"
#include "examples/http/http_server.h"
#include "tests/examples/http/http_responses.h"

namespace actnet::http {
namespace {

using testing::Response;
using testing::TakeResponses;

constexpr size_t kMaxBody = 1000;

// Feeds `in` (in pieces of `step` bytes; 0 = at once) to a fresh session.
struct Fed {
  std::vector<Response> responses;
  std::string leftover;  // bytes that did not form a whole response
  bool open = true;
};
Fed Feed(absl::string_view in, size_t step = 0) {
  DateCache dates(absl::FromUnixSeconds(784111777));
  Session session(kMaxBody, &dates);
  std::string out;
  Fed fed;
  if (step == 0) step = in.size() + 1;
  for (size_t i = 0; i < in.size(); i += step) {
    fed.open = session.Feed(in.substr(i, step), [&out](absl::string_view s) {
      out.append(s.data(), s.size());
    });
  }
  fed.responses = TakeResponses(&out);
  fed.leftover = out;
  return fed;
}

const char kGet[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_SUITE("http::Session") {
  TEST_CASE("the date is an IMF-fixdate") {
    const auto d = FormatDate(absl::FromUnixSeconds(784111777));
    CHECK(std::string(d.data(), d.size()) == "Sun, 06 Nov 1994 08:49:37 GMT");
  }

  TEST_CASE("GET / and GET /plaintext say hello with the TechEmpower headers") {
    for (const char* path : {"/", "/plaintext", "/plaintext?x=1"}) {
      Fed f = Feed(absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n"));
      REQUIRE(f.responses.size() == 1);
      const Response& r = f.responses[0];
      CHECK(r.status == 200);
      CHECK(r.body == "Hello, World!");
      CHECK(r.Has("Content-Type: text/plain"));
      CHECK(r.Has("Content-Length: 13"));
      CHECK(r.Has("Server: actnet"));
      CHECK(r.Has("Date: Sun, 06 Nov 1994 08:49:37 GMT"));
      CHECK_FALSE(r.Has("Connection: close"));
      CHECK(f.open);
    }
  }

  TEST_CASE("a new date changes the canned response") {
    DateCache dates(absl::FromUnixSeconds(0));
    const std::string before(dates.plaintext());
    const auto d = FormatDate(absl::FromUnixSeconds(1));
    dates.SetDate({d.data(), d.size()});
    CHECK(before != dates.plaintext());
    CHECK(absl::StrContains(dates.plaintext(), "Thu, 01 Jan 1970 00:00:01 GMT"));
    CHECK(dates.plaintext().size() == before.size());
  }

  TEST_CASE("unknown paths are 404 and wrong methods 405, keeping the connection") {
    Fed f = Feed("GET /nope HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n"
                 "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
    REQUIRE(f.responses.size() == 3);
    CHECK(f.responses[0].status == 404);
    CHECK(f.responses[1].status == 405);
    CHECK(f.responses[2].status == 405);
    CHECK(f.open);
  }

  TEST_CASE("POST /echo returns a Content-Length body") {
    Fed f = Feed("POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
    REQUIRE(f.responses.size() == 1);
    CHECK(f.responses[0].status == 200);
    CHECK(f.responses[0].body == "hello world");
    CHECK(f.open);
  }

  TEST_CASE("POST /echo returns a chunked body, however the bytes are split") {
    const std::string req =
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: t\r\n\r\n";
    for (size_t step : {0, 1, 2, 7}) {
      CAPTURE(step);
      Fed f = Feed(req + kGet, step);
      REQUIRE(f.responses.size() == 2);
      CHECK(f.responses[0].body == "hello world!");
      CHECK(f.responses[0].Has("Content-Length: 12"));
      CHECK(f.responses[1].body == "Hello, World!");
    }
  }

  TEST_CASE("pipelined requests are answered in order, also split byte by byte") {
    std::string req;
    for (int i = 0; i < 16; ++i) {
      const std::string body = absl::StrCat("body", i);
      absl::StrAppend(&req, i % 2 == 0 ? kGet : "",
                      "POST /echo HTTP/1.1\r\nContent-Length: ", body.size(),
                      "\r\n\r\n", body);
    }
    for (size_t step : {0, 1, 5}) {
      CAPTURE(step);
      Fed f = Feed(req, step);
      REQUIRE(f.responses.size() == 24);
      size_t k = 0;
      for (int i = 0; i < 16; ++i) {
        if (i % 2 == 0) CHECK(f.responses[k++].body == "Hello, World!");
        CHECK(f.responses[k++].body == absl::StrCat("body", i));
      }
      CHECK(f.leftover.empty());
      CHECK(f.open);
    }
  }

  TEST_CASE("HTTP/1.1 with Connection: close answers, closes, and ignores the rest") {
    Fed f = Feed(absl::StrCat("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", kGet));
    REQUIRE(f.responses.size() == 1);
    CHECK(f.responses[0].Has("Connection: close"));
    CHECK(f.responses[0].body == "Hello, World!");
    CHECK_FALSE(f.open);
  }

  TEST_CASE("HTTP/1.0 closes unless keep-alive is asked for") {
    Fed f = Feed(absl::StrCat("GET / HTTP/1.0\r\n\r\n", kGet));
    REQUIRE(f.responses.size() == 1);
    CHECK(f.responses[0].Has("Connection: close"));
    CHECK_FALSE(f.open);

    f = Feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
             "GET /nope HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    REQUIRE(f.responses.size() == 2);
    CHECK(f.responses[0].Has("Connection: keep-alive"));
    CHECK(f.responses[0].body == "Hello, World!");
    CHECK(f.responses[1].status == 404);
    CHECK(f.open);
  }

  TEST_CASE("a malformed request gets 400 and a close, after earlier answers") {
    for (std::string bad : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                            "POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                            "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
      CAPTURE(bad);
      Fed f = Feed(absl::StrCat(kGet, bad, kGet));
      REQUIRE(f.responses.size() == 2);
      CHECK(f.responses[0].status == 200);
      CHECK(f.responses[1].status == 400);
      CHECK(f.responses[1].Has("Connection: close"));
      CHECK_FALSE(f.open);
    }
  }

  TEST_CASE("a request for HTTP/2 or later gets 505 and a close") {
    Fed f = Feed("GET / HTTP/2.0\r\n\r\n");
    REQUIRE(f.responses.size() == 1);
    CHECK(f.responses[0].status == 505);
    CHECK_FALSE(f.open);
  }

  TEST_CASE("a header section over 8 KiB gets 431; one just under is served") {
    const auto request = [](size_t total) {
      const std::string head = "GET / HTTP/1.1\r\nX: ";
      return absl::StrCat(head, std::string(total - head.size() - 4, 'a'), "\r\n\r\n");
    };
    Fed ok = Feed(request(kMaxHeaderBytes - 64));
    REQUIRE(ok.responses.size() == 1);
    CHECK(ok.responses[0].status == 200);
    for (size_t step : {0, 1000}) {
      Fed big = Feed(request(kMaxHeaderBytes + 64), step);
      REQUIRE(big.responses.size() == 1);
      CHECK(big.responses[0].status == 431);
      CHECK_FALSE(big.open);
    }
    // No end of headers at all: 431 as soon as the limit passes.
    Fed endless = Feed(absl::StrCat("GET / HTTP/1.1\r\nX: ", std::string(20000, 'a')), 512);
    REQUIRE(endless.responses.size() == 1);
    CHECK(endless.responses[0].status == 431);
  }

  TEST_CASE("a body over the limit gets 413, by Content-Length or chunked") {
    Fed at_limit = Feed(absl::StrCat("POST /echo HTTP/1.1\r\nContent-Length: ", kMaxBody,
                                     "\r\n\r\n", std::string(kMaxBody, 'b')));
    REQUIRE(at_limit.responses.size() == 1);
    CHECK(at_limit.responses[0].body.size() == kMaxBody);

    Fed declared = Feed(absl::StrCat("POST /echo HTTP/1.1\r\nContent-Length: ",
                                     kMaxBody + 1, "\r\n\r\n"));
    REQUIRE(declared.responses.size() == 1);
    CHECK(declared.responses[0].status == 413);
    CHECK_FALSE(declared.open);

    std::string chunked = "POST /nope HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 11; ++i) absl::StrAppend(&chunked, "64\r\n", std::string(100, 'c'), "\r\n");
    Fed streamed = Feed(chunked, 37);
    REQUIRE(streamed.responses.size() == 1);
    CHECK(streamed.responses[0].status == 413);
    CHECK_FALSE(streamed.open);
  }

  TEST_CASE("an upgrade request is answered and the connection closed") {
    Fed f = Feed("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    REQUIRE(f.responses.size() == 1);
    CHECK(f.responses[0].status == 200);
    CHECK(f.responses[0].Has("Connection: close"));
    CHECK_FALSE(f.open);
  }
}

}  // namespace
}  // namespace actnet::http
