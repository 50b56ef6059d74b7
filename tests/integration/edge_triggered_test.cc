// The echo and back-pressure scenarios again, with connections registered
// edge-triggered (EngineOptions::edge_triggered): every readiness edge must
// be drained, and reads paused by back-pressure must resume without a new
// edge.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/scenarios.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

TEST_SUITE("edge_triggered") {
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
