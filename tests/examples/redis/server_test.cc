// The Redis server in-process on four loops (so most keys live on another
// loop than the connection): replies in request order under pipelining and
// with multi-key commands split across shards, several clients at once,
// the in-flight bound (pause, resume, nothing stranded), QUIT and protocol
// errors closing after the earlier replies, DBSIZE/FLUSHALL over every
// shard, and the expiry sweep. Ends with a file-descriptor leak check.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "examples/redis/server.h"
#include "tests/examples/redis/client.h"
#include "tests/examples/redis/model.h"
#include "tests/testing/common.h"

namespace actnet::redis {
namespace {

using testing::Client;
using testing::Cmd;

// A running server; stops it on destruction.
class TestServer {
 public:
  explicit TestServer(ServerOptions options = {}, int loops = 4)
      : engine_([loops] {
          EngineOptions o;
          o.loops = loops;
          return o;
        }()) {
    REQUIRE(SetUpServer(engine_, "tcp://127.0.0.1:0", options, nullptr).ok());
    REQUIRE(engine_.Start().ok());
    const std::string addr = engine_.ListenAddresses().at(0);
    REQUIRE(absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &port_));
  }
  ~TestServer() {
    engine_.Stop();
    engine_.Wait();
  }
  int port() const { return port_; }

 private:
  Engine engine_;
  int port_ = 0;
};

const int g_fds_at_start = actnet::testutil::CountOpenFds();

TEST_SUITE("redis server") {
  TEST_CASE("pipelined commands over every shard are answered in order") {
    TestServer server;
    Client c(server.port());
    REQUIRE(c.ok());
    const testing::Commands cmds = testing::Workload("pipe", 3000, 1);
    const std::string expected = testing::ModelReplies(cmds);
    REQUIRE(c.Send(testing::Encode(cmds)));
    CHECK(c.ReadBytes(expected.size()) == expected);
    CHECK(c.Call({"PING"}) == "+PONG\r\n");
  }

  TEST_CASE("requests split at every byte boundary still parse") {
    TestServer server;
    Client c(server.port());
    REQUIRE(c.ok());
    const testing::Commands cmds = testing::Workload("split", 60, 2);
    const std::string bytes = testing::Encode(cmds);
    for (char ch : bytes) REQUIRE(c.Send(std::string(1, ch)));
    const std::string expected = testing::ModelReplies(cmds);
    CHECK(c.ReadBytes(expected.size()) == expected);
  }

  TEST_CASE("clients on every loop at once each see their own order") {
    TestServer server;
    constexpr int kClients = 8;
    std::vector<std::string> got(kClients), want(kClients);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        Client c(server.port());
        if (!c.ok()) return;
        const testing::Commands cmds =
            testing::Workload("c" + std::to_string(i), 1500, 10 + i);
        want[i] = testing::ModelReplies(cmds);
        const std::string bytes = testing::Encode(cmds);
        // In slices, so requests straddle reads.
        for (size_t off = 0; off < bytes.size(); off += 4000) {
          if (!c.Send(bytes.substr(off, 4000))) return;
        }
        got[i] = c.ReadBytes(want[i].size());
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kClients; ++i) {
      CAPTURE(i);
      CHECK(!want[i].empty());
      CHECK(got[i] == want[i]);
    }
  }

  TEST_CASE("at the in-flight bound a session pauses and resumes by itself") {
    ServerOptions options;
    options.session.max_in_flight = 2;
    TestServer server(options);
    Client c(server.port());
    REQUIRE(c.ok());
    // One write far beyond the bound: the rest waits in the inbound
    // buffer and must be picked up again as replies come back.
    const testing::Commands cmds = testing::Workload("bound", 4000, 3);
    const std::string expected = testing::ModelReplies(cmds);
    REQUIRE(c.Send(testing::Encode(cmds)));
    CHECK(c.ReadBytes(expected.size()) == expected);
    CHECK(c.Call({"PING"}) == "+PONG\r\n");
  }

  TEST_CASE("QUIT answers after every earlier reply, then closes") {
    TestServer server;
    Client c(server.port());
    REQUIRE(c.ok());
    std::string req, want;
    for (int i = 0; i < 50; ++i) {
      const std::string k = "q" + std::to_string(i);
      req += Cmd({"SET", k, "v"}) + Cmd({"GET", k});
      want += "+OK\r\n$1\r\nv\r\n";
    }
    req += Cmd({"QUIT"}) + Cmd({"PING"});  // PING is never answered
    want += "+OK\r\n";
    REQUIRE(c.Send(req));
    std::string rest;
    CHECK(c.WaitClosed(&rest));
    CHECK(rest == want);
  }

  TEST_CASE("malformed input: earlier replies, a protocol error, a close") {
    TestServer server;
    Client bystander(server.port());
    REQUIRE(bystander.ok());
    CHECK(bystander.Call({"SET", "by", "1"}) == "+OK\r\n");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"*1\r\n$999999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
        {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
        {"*2\r\n$3\r\nGET\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
        {"*99999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
        {std::string(70000, 'a'), "-ERR Protocol error: too big inline request\r\n"},
    };
    for (const auto& [input, error] : cases) {
      CAPTURE(error);
      Client c(server.port());
      REQUIRE(c.ok());
      // A remote-shard command first: its reply must come before the error.
      REQUIRE(c.Send(Cmd({"MGET", "m1", "m2", "m3", "m4", "m5"}) + input));
      std::string rest;
      CHECK(c.WaitClosed(&rest));
      CHECK(rest == "*5\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n" + error);
    }
    CHECK(bystander.Call({"GET", "by"}) == "$1\r\n1\r\n");
  }

  TEST_CASE("DBSIZE and FLUSHALL span every shard") {
    TestServer server;
    Client c(server.port());
    REQUIRE(c.ok());
    std::string req;
    for (int i = 0; i < 200; ++i) req += Cmd({"SET", "d" + std::to_string(i), "v"});
    REQUIRE(c.Send(req));
    REQUIRE(c.ReadReplies(200).size() == 200 * 5);
    CHECK(c.Call({"DBSIZE"}) == ":200\r\n");
    CHECK(c.Call({"FLUSHALL", "x"}) == "-ERR syntax error\r\n");
    CHECK(c.Call({"DBSIZE"}) == ":200\r\n");
    CHECK(c.Call({"FLUSHALL"}) == "+OK\r\n");
    CHECK(c.Call({"DBSIZE"}) == ":0\r\n");
  }

  TEST_CASE("expired keys nobody reads are swept on every shard") {
    ServerOptions options;
    options.sweep_interval = absl::Milliseconds(10);
    TestServer server(options);
    Client c(server.port());
    REQUIRE(c.ok());
    std::string req;
    for (int i = 0; i < 100; ++i) {
      req += Cmd({"SET", "e" + std::to_string(i), "v", "PX", "20"});
    }
    req += Cmd({"SET", "stays", "v"});
    REQUIRE(c.Send(req));
    REQUIRE(!c.ReadReplies(101).empty());
    // DBSIZE counts keys still stored: only the sweep can bring it down.
    std::string size;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      size = c.Call({"DBSIZE"});
    } while (size != ":1\r\n" && std::chrono::steady_clock::now() < deadline);
    CHECK(size == ":1\r\n");
  }

  TEST_CASE("one loop: every command runs in place") {
    TestServer server({}, 1);
    Client c(server.port());
    REQUIRE(c.ok());
    const testing::Commands cmds = testing::Workload("one", 1000, 4);
    const std::string expected = testing::ModelReplies(cmds);
    REQUIRE(c.Send(testing::Encode(cmds)));
    CHECK(c.ReadBytes(expected.size()) == expected);
  }

  TEST_CASE("no file descriptor leaks") {
    CHECK(actnet::testutil::CountOpenFds() == g_fds_at_start);
  }
}

}  // namespace
}  // namespace actnet::redis
