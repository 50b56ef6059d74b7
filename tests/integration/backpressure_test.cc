// Back-pressure: a client that writes 8 MiB while reading its echo slowly.
// The server must stop reading while its queued output is above the
// high-water mark, so that queue stays bounded, and still return every byte.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/scenarios.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

BackpressureScenario Base(int loops) {
  BackpressureScenario sc;
  sc.options.loops = loops;
  sc.options.write_high_water = 256 * 1024;
  sc.options.write_low_water = 64 * 1024;
  sc.payload = kSanitized ? (4 << 20) : (8 << 20);
  return sc;
}

TEST_SUITE("backpressure") {
  TEST_CASE("a slow reader keeps the server's queued output bounded and gets every byte") {
    RunBackpressureScenario(Base(1));
  }

  TEST_CASE("back-pressure holds with four loops") {
    RunBackpressureScenario(Base(4));
  }

  TEST_CASE("back-pressure holds over a unix socket") {
    TempDir dir;
    REQUIRE(!dir.path().empty());
    BackpressureScenario sc = Base(2);
    sc.url = dir.UnixUrl("bp.sock");
    RunBackpressureScenario(sc);
  }
}

}  // namespace
}  // namespace actnet::integration
