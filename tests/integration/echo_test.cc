// Echo through the whole engine: many concurrent clients, byte-exact, with
// one and four loops and every balancer, over TCP, over a unix socket, and
// over both served by one engine.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <string>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/scenarios.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

EchoScenario Base(int loops, balance::Strategy balancer) {
  EchoScenario sc;
  sc.options.loops = loops;
  sc.options.balancer = balancer;
  sc.clients = 64;
  sc.round_trips = static_cast<int>(Scaled(1000));
  return sc;
}

TEST_SUITE("echo") {
  TEST_CASE("64 clients echo 1,000 random payloads each on one loop") {
    RunEchoScenario(Base(1, balance::Strategy::kRoundRobin));
  }

  TEST_CASE("64 clients echo byte-exact on four loops with round-robin") {
    RunEchoScenario(Base(4, balance::Strategy::kRoundRobin));
  }

  TEST_CASE("64 clients echo byte-exact on four loops with least-connections") {
    RunEchoScenario(Base(4, balance::Strategy::kLeastConnections));
  }

  TEST_CASE("64 clients echo byte-exact on four loops with source-hash") {
    RunEchoScenario(Base(4, balance::Strategy::kSourceHash));
  }

  TEST_CASE("echo works over a unix socket") {
    TempDir dir;
    REQUIRE(!dir.path().empty());
    EchoScenario sc = Base(2, balance::Strategy::kRoundRobin);
    sc.urls = {dir.UnixUrl("e.sock")};
    sc.clients = 16;
    RunEchoScenario(sc);
  }

  TEST_CASE("one engine echoes over TCP and a unix socket at once") {
    TempDir dir;
    REQUIRE(!dir.path().empty());
    EchoScenario sc = Base(4, balance::Strategy::kRoundRobin);
    sc.urls = {"tcp://127.0.0.1:0", dir.UnixUrl("e.sock")};
    sc.clients = 32;
    RunEchoScenario(sc);
  }
}

}  // namespace
}  // namespace actnet::integration
