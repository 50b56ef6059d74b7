// bazel-bin/examples/http/http over tls://, driven by curl and wrk with the
// test CA: keep-alive reuse and ALPN http/1.1, chunked and Content-Length
// POSTs, a 1 MiB file from --static_dir, no errors under wrk, and a bad
// key refused at start with a message naming the file.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "doctest/doctest.h"
#include "tests/examples/http/server_process.h"
#include "tests/testing/tls_certs.h"

namespace actnet::testing {
namespace {

using testutil::Certificates;

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The server on tls://127.0.0.1:<port> with a static directory holding a
// 1 MiB random file; stopped (exit status checked) at scope end.
class HttpsServer {
 public:
  HttpsServer() {
    www_ = TempPath("www");
    RunCommand("mkdir -p " + www_);
    std::mt19937_64 rng(5);
    file_.resize(1 << 20);
    for (char& c : file_) c = static_cast<char>(rng());
    std::ofstream(www_ + "/1mib.bin", std::ios::binary) << file_;
    process_ = ServerProcess::Start(
        Runfile("examples/http/http"),
        {"--addr=tls://127.0.0.1:0", "--loops=2", "--tls_cert=" + Certificates().cert,
         "--tls_key=" + Certificates().key, "--static_dir=" + www_});
    REQUIRE_MESSAGE(process_ != nullptr, "the server did not say it was listening");
  }
  ~HttpsServer() { CHECK(process_->Terminate() == 0); }
  std::string Url(absl::string_view path) const {
    return absl::StrCat("https://localhost:", process_->port(), path);
  }
  std::string Curl() const {
    return absl::StrCat("curl -s --max-time 20 --cacert ", Certificates().ca, " ");
  }
  const std::string& file() const { return file_; }

 private:
  std::string www_;
  std::string file_;
  std::unique_ptr<ServerProcess> process_;
};

TEST_SUITE("examples/http over TLS") {
  TEST_CASE("curl: one verified keep-alive connection, ALPN http/1.1") {
    HttpsServer server;
    const CommandResult r = RunCommand(absl::StrCat(
        server.Curl(), "-v ", server.Url("/"), " ", server.Url("/plaintext")));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(absl::StrContains(r.output, "Re-using existing connection"));
    CHECK(absl::StrContains(r.output, "ALPN"));
    CHECK(absl::StrContains(r.output, "accepted"));
    CHECK(absl::StrContains(r.output, "http/1.1"));
    CHECK(absl::StrContains(r.output, "SSL certificate verify ok"));
  }

  TEST_CASE("curl: chunked and Content-Length POSTs come back whole; a 1 MiB static file") {
    HttpsServer server;
    std::string body;
    for (int i = 0; body.size() < 300 * 1000; ++i) absl::StrAppend(&body, "line ", i, "\n");
    const std::string in = TempPath("body.txt");
    std::ofstream(in, std::ios::binary) << body;
    for (const char* extra : {"-H 'Transfer-Encoding: chunked'", ""}) {
      CAPTURE(std::string(extra));
      const std::string out = TempPath("echoed.txt");
      const CommandResult r = RunCommand(absl::StrCat(
          server.Curl(), extra, " --data-binary @", in, " -o ", out, " -w '%{http_code}' ",
          server.Url("/echo")));
      INFO(r.output);
      CHECK(r.status == 0);
      CHECK(r.output == "200");
      CHECK(ReadFile(out) == body);
    }
    const std::string got = TempPath("got.bin");
    const CommandResult r = RunCommand(absl::StrCat(
        server.Curl(), "-o ", got, " -w '%{http_code}' ", server.Url("/1mib.bin")));
    INFO(r.output);
    CHECK(r.output == "200");
    CHECK(ReadFile(got) == server.file());
    const CommandResult missing = RunCommand(absl::StrCat(
        server.Curl(), "-o /dev/null -w '%{http_code}' ", server.Url("/nothing-here")));
    CHECK(missing.output == "404");
  }

  TEST_CASE("a short wrk run over https sees no errors and no non-2xx answers") {
    HttpsServer server;
    const CommandResult r = RunCommand(absl::StrCat(
        "timeout 30 wrk -t1 -c16 -d1s ", server.Url("/plaintext")));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(absl::StrContains(r.output, "Requests/sec"));
    CHECK_FALSE(absl::StrContains(r.output, "Socket errors"));
    CHECK_FALSE(absl::StrContains(r.output, "Non-2xx"));
  }

  TEST_CASE("a key that does not match the certificate: exit 2, naming both files") {
    const CommandResult r = RunCommand(absl::StrCat(
        Runfile("examples/http/http"), " --addr=tls://127.0.0.1:0 --tls_cert=",
        Certificates().cert, " --tls_key=", Certificates().other_key));
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK(absl::StrContains(r.output, "does not match"));
    CHECK(absl::StrContains(r.output, Certificates().other_key));
  }
}

}  // namespace
}  // namespace actnet::testing
