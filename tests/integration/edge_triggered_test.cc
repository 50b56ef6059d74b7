// The echo and back-pressure scenarios again, with connections registered
// edge-triggered (EngineOptions::edge_triggered): every readiness edge must
// be drained, and reads paused by back-pressure must resume without a new
// edge.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <memory>
#include <string>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/scenarios.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

class LoggedEcho : public LoggedHandler {
 public:
  using LoggedHandler::LoggedHandler;
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
};

// Regression guard. Symptom: in edge-triggered mode a client that sends a
// request and half-closes at once gets its reply but never EOF, and the
// server never runs OnClose. Cause: HandleReadable stops after a short read
// ("the next arrival raises a new edge"), but the FIN arrived with the data,
// so no new edge ever comes and the pending EOF is never read.
void CheckRequestAndHalfCloseTogether(bool edge_triggered) {
  const int fds_before = CountOpenFds();
  {
    EngineOptions options;
    options.loops = 1;
    options.edge_triggered = edge_triggered;
    Engine engine(options);
    ConnLog log;
    REQUIRE(engine
                .Listen("tcp://127.0.0.1:0",
                        [&log] { return std::make_unique<LoggedEcho>(&log); })
                .ok());
    REQUIRE(engine.Start().ok());
    Client client = Client::Connect(FirstAddress(engine));
    REQUIRE(client.valid());
    REQUIRE(log.WaitOpens(1));
    {
      // The loop sleeps through the data and the FIN; loopback delivers
      // both before send() and shutdown() return.
      LoopBlocker blocker(engine, 0);
      REQUIRE(blocker.blocking());
      REQUIRE(client.SendAll("request\n", Clock::now() + seconds(5)));
      client.ShutdownWrite();
    }
    // Without the fix EOF never comes: the deadline only bounds the wait.
    std::string reply;
    const bool eof = client.RecvUntilEof(&reply, Clock::now() + seconds(20));
    CHECK(reply == "request\n");
    CHECK(eof);
    CHECK(log.WaitCloses(1));
    engine.Stop();
    engine.Wait();
    CHECK(log.closes() == 1);
  }
  CheckNoFdLeak(fds_before);
}

TEST_SUITE("edge_triggered") {
  TEST_CASE("edge-triggered: a request and a half-close that arrive together get the reply and EOF") {
    CheckRequestAndHalfCloseTogether(true);
  }

  TEST_CASE("level-triggered control: a request and a half-close that arrive together get the reply and EOF") {
    CheckRequestAndHalfCloseTogether(false);
  }

  TEST_CASE("edge-triggered: 64 clients echo byte-exact on one loop") {
    EchoScenario sc;
    sc.options.loops = 1;
    sc.options.edge_triggered = true;
    sc.round_trips = static_cast<int>(Scaled(1000));
    RunEchoScenario(sc);
  }

  TEST_CASE("edge-triggered: 64 clients echo byte-exact on four loops") {
    EchoScenario sc;
    sc.options.loops = 4;
    sc.options.edge_triggered = true;
    sc.options.balancer = balance::Strategy::kLeastConnections;
    sc.round_trips = static_cast<int>(Scaled(1000));
    RunEchoScenario(sc);
  }

  TEST_CASE("edge-triggered: large payloads that fill the read buffer echo byte-exact") {
    EchoScenario sc;
    sc.options.loops = 2;
    sc.options.edge_triggered = true;
    sc.options.read_buffer_size = 4096;  // many reads per edge
    sc.clients = 8;
    sc.round_trips = static_cast<int>(Scaled(200, 20));
    sc.max_payload = 256 * 1024;
    RunEchoScenario(sc);
  }

  TEST_CASE("edge-triggered: a slow reader keeps queued output bounded and gets every byte") {
    BackpressureScenario sc;
    sc.options.loops = 1;
    sc.options.edge_triggered = true;
    sc.options.write_high_water = 256 * 1024;
    sc.options.write_low_water = 64 * 1024;
    sc.payload = kSanitized ? (4 << 20) : (8 << 20);
    RunBackpressureScenario(sc);
  }

  TEST_CASE("edge-triggered: back-pressure with a small read buffer") {
    BackpressureScenario sc;
    sc.options.loops = 2;
    sc.options.edge_triggered = true;
    sc.options.read_buffer_size = 8 * 1024;
    sc.options.write_high_water = 256 * 1024;
    sc.options.write_low_water = 64 * 1024;
    sc.payload = kSanitized ? (4 << 20) : (8 << 20);
    RunBackpressureScenario(sc);
  }
}

}  // namespace
}  // namespace actnet::integration
