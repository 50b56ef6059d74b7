// http::Server in-process on a two-loop engine: concurrent pipelining
// clients on both loops, and the Date header refreshed on every loop by the
// engine tick (the cross-loop path TSan watches). Ends with no fd leaked.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "examples/http/http_server.h"
#include "tests/examples/http/http_responses.h"
#include "tests/examples/http/server_process.h"

namespace actnet::http {
namespace {

using testing::After;
using testing::Clock;
using testing::HasResponses;
using testing::Response;
using testing::TakeResponses;
using testutil::CheckNoFdLeak;
using testutil::CountOpenFds;

Clock::time_point Soon() { return After(std::chrono::seconds(30)); }

int PortOf(const Engine& engine) {
  const std::string addr = engine.ListenAddresses().at(0);
  return std::atoi(addr.c_str() + addr.rfind(':') + 1);
}

// One GET on `client`; its Date header, or "" on failure.
std::string DateOf(testutil::Client& client) {
  if (!client.SendAll("GET / HTTP/1.1\r\n\r\n", Soon())) return "";
  std::string in;
  if (!client.RecvUntil([](absl::string_view s) { return HasResponses(s, 1); }, &in, Soon())) {
    return "";
  }
  const std::vector<Response> r = TakeResponses(&in);
  const size_t at = r[0].head.find("\r\nDate: ");
  return at == std::string::npos ? "" : r[0].head.substr(at + 8, kDateSize);
}

TEST_SUITE("http::Server") {
  TEST_CASE("clients on both loops pipeline concurrently and see the date move") {
    const int fds_before = CountOpenFds();
    {
      Engine engine({.loops = 2});
      Server server(engine, {.max_body = 4096});
      REQUIRE(server.Listen("tcp://127.0.0.1:0").ok());
      REQUIRE(engine.Start().ok());
      const int port = PortOf(engine);

      constexpr int kClients = 4;
      std::atomic<int> good{0};
      std::vector<std::thread> clients;
      for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([port, c, &good] {
          testutil::Client client = testutil::Client::Connect(port, Soon());
          if (!client.valid()) return;
          bool ok = true;
          for (int round = 0; round < 50 && ok; ++round) {
            std::string req;
            for (int i = 0; i < 8; ++i) {
              const std::string body = absl::StrCat(c, "/", round, "/", i);
              absl::StrAppend(&req, "GET /plaintext HTTP/1.1\r\n\r\n",
                              "POST /echo HTTP/1.1\r\nContent-Length: ", body.size(),
                              "\r\n\r\n", body);
            }
            std::string in;
            ok = client.SendAll(req, Soon()) &&
                 client.RecvUntil([](absl::string_view s) { return HasResponses(s, 16); }, &in,
                                  Soon());
            const std::vector<Response> r = TakeResponses(&in);
            ok = ok && r.size() == 16 && in.empty();
            for (int i = 0; ok && i < 8; ++i) {
              ok = r[2 * i].body == "Hello, World!" &&
                   r[2 * i + 1].body == absl::StrCat(c, "/", round, "/", i);
            }
          }
          if (ok) good.fetch_add(1);
        });
      }
      for (std::thread& t : clients) t.join();
      CHECK(good.load() == kClients);

      // Round-robin puts these two on different loops; both dates move on.
      testutil::Client a = testutil::Client::Connect(port, Soon());
      testutil::Client b = testutil::Client::Connect(port, Soon());
      REQUIRE(a.valid());
      REQUIRE(b.valid());
      const std::string first_a = DateOf(a), first_b = DateOf(b);
      REQUIRE(first_a.size() == kDateSize);
      REQUIRE(first_b.size() == kDateSize);
      bool moved_a = false, moved_b = false;
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (!(moved_a && moved_b) && Clock::now() < deadline) {
        // Waiting for the wall clock itself to pass a second.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        moved_a = moved_a || DateOf(a) != first_a;
        moved_b = moved_b || DateOf(b) != first_b;
      }
      CHECK(moved_a);
      CHECK(moved_b);
      a.Close();
      b.Close();
      engine.Stop();
      engine.Wait();
    }
    CheckNoFdLeak(fds_before);
  }
}

}  // namespace
}  // namespace actnet::http
