// The real bazel-bin/examples/redis/redis binary, run with --loops=4:
// pipelined mixed commands over a raw socket (keys on every shard, replies
// byte-identical to an unsharded model, in order); malformed RESP answered
// with an error and a close while another client keeps being served; and
// SIGTERM / SIGINT ending the process with status 0.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "tests/testing/common.h"
#include "tests/examples/redis/client.h"
#include "tests/examples/redis/model.h"

namespace actnet::redis {
namespace {

using testing::Client;
using testing::Cmd;

// The server process; killed (SIGKILL) if a test ends without stopping it.
class Process {
 public:
  explicit Process(int loops)
      : child_(testutil::ChildProcess::Start(
            testutil::Runfile("examples/redis/redis"),
            {"--addr=tcp://127.0.0.1:0", "--loops=" + std::to_string(loops)})) {
    REQUIRE(child_ != nullptr);
    REQUIRE(child_->port() > 0);
  }
  int port() const { return child_->port(); }
  // Sends `sig` and returns the exit status (128 + signal if one ended it).
  int Stop(int sig) { return child_->Terminate(std::chrono::seconds(60), sig); }

 private:
  std::unique_ptr<testutil::ChildProcess> child_;
};

TEST_SUITE("redis binary") {
  TEST_CASE("pipelined mixed commands over four shards come back in order") {
    Process server(4);
    Client c(server.port());
    REQUIRE(c.ok());
    const testing::Commands cmds = testing::Workload("bin", 5000, 7);
    const std::string expected = testing::ModelReplies(cmds);
    REQUIRE(c.Send(testing::Encode(cmds)));
    CHECK(c.ReadBytes(expected.size()) == expected);
    // Inline requests are pipelined the same way.
    REQUIRE(c.Send("SET inl 5\r\nINCR inl\r\nMGET inl bin:1 nokey\r\nPING\r\n"));
    const std::string tail = c.ReadReplies(4);
    CHECK(tail.rfind("+OK\r\n:6\r\n*3\r\n$1\r\n6\r\n", 0) == 0);
    CHECK(tail.size() > 20);
    CHECK(tail.substr(tail.size() - 7) == "+PONG\r\n");
    CHECK(server.Stop(SIGTERM) == 0);
  }

  // Regression (soak): replies that come back from other shards were lost
  // when the client half-closed right after its last request, because the
  // peer's FIN closed the connection once the replies ready at that moment
  // were flushed.
  TEST_CASE("a client that half-closes after pipelining gets every reply, then EOF") {
    Process server(4);
    for (int round = 0; round < 5; ++round) {
      CAPTURE(round);
      Client c(server.port());
      REQUIRE(c.ok());
      const std::string prefix = "hc" + std::to_string(round);
      const testing::Commands cmds = testing::Workload(prefix, 2000, 11 + round);
      const std::string expected = testing::ModelReplies(cmds);
      REQUIRE(c.Send(testing::Encode(cmds)));
      c.ShutdownWrite();
      std::string replies;
      CHECK(c.WaitClosed(&replies));
      CHECK(replies.size() == expected.size());
      CHECK((replies == expected));
    }
    CHECK(server.Stop(SIGTERM) == 0);
  }

  TEST_CASE("malformed RESP gets an error and a close; others are served") {
    Process server(4);
    Client bystander(server.port());
    REQUIRE(bystander.ok());
    CHECK(bystander.Call({"SET", "keep", "1"}) == "+OK\r\n");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"*1\r\n$2147483648\r\n", "invalid bulk length"},
        {"*1\r\n$-7\r\n", "invalid bulk length"},
        {"*2\r\n$3\r\nGET\r\n+x\r\n", "expected '$', got '+'"},
        {"*-x\r\n", "invalid multibulk length"},
        {"*2147483647\r\n", "invalid multibulk length"},
        {"*1\r\n$3\r\nabcXY", "expected CRLF after bulk string"},
        {"\"unbalanced\r\n", "unbalanced quotes in request"},
        {std::string(100000, 'z'), "too big inline request"},
        {"*" + std::string(100000, '9'), "too big mbulk count string"},
    };
    for (const auto& [input, what] : cases) {
      CAPTURE(what);
      Client c(server.port());
      REQUIRE(c.ok());
      REQUIRE(c.Send(Cmd({"PING"}) + input));
      std::string rest;
      CHECK(c.WaitClosed(&rest));
      CHECK(rest == "+PONG\r\n-ERR Protocol error: " + what + "\r\n");
      CHECK(bystander.Call({"INCR", "keep"}).substr(0, 1) == ":");
    }
    const std::string count = std::to_string(1 + cases.size());
    CHECK(bystander.Call({"GET", "keep"}) ==
          "$" + std::to_string(count.size()) + "\r\n" + count + "\r\n");
    CHECK(server.Stop(SIGINT) == 0);
  }

  TEST_CASE("SIGTERM with clients connected and requests in flight exits 0") {
    Process server(4);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 8; ++i) {
      clients.push_back(std::make_unique<Client>(server.port()));
      REQUIRE(clients.back()->ok());
      REQUIRE(clients.back()->Send(
          testing::Encode(testing::Workload("t" + std::to_string(i), 500, i))));
    }
    CHECK(server.Stop(SIGTERM) == 0);
  }
}

}  // namespace
}  // namespace actnet::redis
