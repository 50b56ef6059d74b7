// bazel-bin/examples/http/http as a real server, driven by curl, wrk and
// raw loopback sockets; every test ends with SIGTERM and exit status 0.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "doctest/doctest.h"
#include "tests/examples/http/http_responses.h"
#include "tests/examples/http/server_process.h"

namespace actnet::testing {
namespace {

// The server under test, stopped (and its exit status checked) at scope end.
class HttpServer {
 public:
  explicit HttpServer(std::vector<std::string> flags = {}) {
    flags.push_back("--addr=tcp://127.0.0.1:0");
    flags.push_back("--loops=2");
    process_ = ServerProcess::Start(Runfile("examples/http/http"), flags);
    REQUIRE_MESSAGE(process_ != nullptr, "the server did not say it was listening");
  }
  ~HttpServer() { CHECK(process_->Terminate() == 0); }
  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", process_->port(), path);
  }
  int port() const { return process_->port(); }

 private:
  std::unique_ptr<ServerProcess> process_;
};

int Count(absl::string_view haystack, absl::string_view needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != absl::string_view::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Clock::time_point Soon() { return After(std::chrono::seconds(30)); }

// Sends `request` on a new connection; returns the responses read until
// `n` arrived (or the server closed), and whether it then closed.
struct Exchange {
  std::vector<Response> responses;
  bool closed = false;
};
Exchange Send(int port, absl::string_view request, size_t n) {
  Exchange e;
  testutil::Client client = testutil::Client::Connect(port, Soon());
  REQUIRE(client.valid());
  REQUIRE(client.SendAll(std::string_view(request.data(), request.size()), Soon()));
  std::string in;
  client.RecvUntil([n](absl::string_view s) { return HasResponses(s, n); }, &in, Soon());
  e.responses = TakeResponses(&in);
  std::string rest;
  e.closed = ReadToEnd(client, &rest, std::chrono::seconds(10)) && rest.empty();
  return e;
}

TEST_SUITE("examples/http binary") {
  TEST_CASE("curl reuses one keep-alive connection for several URLs") {
    HttpServer server;
    const CommandResult r = RunCommand(absl::StrCat(
        "curl -s -v --max-time 20 ", server.Url("/"), " ", server.Url("/plaintext"),
        " ", server.Url("/missing")));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(absl::StrContains(r.output, "Re-using existing connection"));
    CHECK(Count(r.output, "< HTTP/1.1 200 OK") == 2);
    CHECK(Count(r.output, "< HTTP/1.1 404 Not Found") == 1);
    CHECK(Count(r.output, "Hello, World!") == 2);
    CHECK(Count(r.output, "< Server: actnet") == 3);
    CHECK(absl::StrContains(r.output, "< Content-Type: text/plain"));
    CHECK(absl::StrContains(r.output, "< Content-Length: 13"));
    CHECK(absl::StrContains(r.output, " GMT"));
  }

  TEST_CASE("curl's chunked and Content-Length POSTs to /echo come back whole") {
    HttpServer server;
    std::string body;
    for (int i = 0; body.size() < 300 * 1000; ++i) absl::StrAppend(&body, "line ", i, "\n");
    const std::string in = TempPath("body.txt");
    std::ofstream(in, std::ios::binary) << body;
    for (const char* extra : {"-H 'Transfer-Encoding: chunked'", ""}) {
      CAPTURE(std::string(extra));
      const std::string out = TempPath("echoed.txt");
      const CommandResult r = RunCommand(absl::StrCat(
          "curl -s --max-time 20 ", extra, " --data-binary @", in, " -o ", out,
          " -w '%{http_code}' ", server.Url("/echo")));
      INFO(r.output);
      CHECK(r.status == 0);
      CHECK(r.output == "200");
      CHECK(ReadFile(out) == body);
    }
  }

  TEST_CASE("16 pipelined requests get 16 responses in order") {
    HttpServer server;
    std::string request;
    for (int i = 0; i < 16; ++i) {
      if (i % 4 == 3) {
        const std::string body = absl::StrCat("request ", i);
        absl::StrAppend(&request, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                        body.size(), "\r\n\r\n", body);
      } else {
        absl::StrAppend(&request, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
      }
    }
    testutil::Client client = testutil::Client::Connect(server.port(), Soon());
    REQUIRE(client.valid());
    for (int round = 0; round < 3; ++round) {  // the connection stays usable
      REQUIRE(client.SendAll(request, Soon()));
      std::string in;
      REQUIRE(client.RecvUntil([](absl::string_view s) { return HasResponses(s, 16); }, &in,
                               Soon()));
      const std::vector<Response> responses = TakeResponses(&in);
      REQUIRE(responses.size() == 16);
      CHECK(in.empty());
      for (int i = 0; i < 16; ++i) {
        CHECK(responses[i].status == 200);
        CHECK(responses[i].body ==
              (i % 4 == 3 ? absl::StrCat("request ", i) : "Hello, World!"));
      }
    }
  }

  TEST_CASE("bad requests get 400, 431 or 413 and a close; other connections carry on") {
    HttpServer server({"--max_body=1024"});
    testutil::Client bystander = testutil::Client::Connect(server.port(), Soon());
    REQUIRE(bystander.valid());

    Exchange bad = Send(server.port(), "BREW /pot HTCPCP/1.0\r\n\r\n", 1);
    REQUIRE(bad.responses.size() == 1);
    CHECK(bad.responses[0].status == 400);
    CHECK(bad.closed);

    Exchange huge = Send(server.port(),
                         absl::StrCat("GET / HTTP/1.1\r\nX: ", std::string(9000, 'x'), "\r\n\r\n"), 1);
    REQUIRE(huge.responses.size() == 1);
    CHECK(huge.responses[0].status == 431);
    CHECK(huge.closed);

    Exchange big = Send(server.port(), "POST /echo HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 1);
    REQUIRE(big.responses.size() == 1);
    CHECK(big.responses[0].status == 413);
    CHECK(big.closed);

    Exchange closing = Send(server.port(),
                            "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n", 2);
    CHECK(closing.responses.size() == 1);
    CHECK(closing.closed);

    Exchange http10 = Send(server.port(), "GET / HTTP/1.0\r\n\r\n", 1);
    REQUIRE(http10.responses.size() == 1);
    CHECK(http10.responses[0].body == "Hello, World!");
    CHECK(http10.closed);

    REQUIRE(bystander.SendAll("GET / HTTP/1.1\r\n\r\n", Soon()));
    std::string in;
    REQUIRE(bystander.RecvUntil([](absl::string_view s) { return HasResponses(s, 1); }, &in,
                                Soon()));
    CHECK(TakeResponses(&in)[0].body == "Hello, World!");
  }

  TEST_CASE("a short wrk run sees no errors and no non-2xx answers") {
    HttpServer server;
    const CommandResult r = RunCommand(absl::StrCat(
        "timeout 30 wrk -t1 -c50 -d2s ", server.Url("/plaintext")));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(absl::StrContains(r.output, "requests in"));
    CHECK_FALSE(absl::StrContains(r.output, "Non-2xx"));
    CHECK_FALSE(absl::StrContains(r.output, "Socket errors"));
  }
}

}  // namespace
}  // namespace actnet::testing
