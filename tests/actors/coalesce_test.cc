// CoalescePolicy: when an event loop sleeps a coalescing window before
// blocking, and how it backs off when windows gather nothing to batch.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actors/coalesce.h"

#include "doctest/doctest.h"

namespace actnet {
namespace {

// Blocking waits until the policy asks for the next window (0 = at once).
int WaitsUntilNextWindow(CoalescePolicy& policy) {
  int waits = 0;
  while (!policy.ShouldCoalesce()) ++waits;
  return waits;
}

TEST_CASE("a zero or negative window never coalesces") {
  CoalescePolicy off(0);
  CoalescePolicy negative(-5);
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE(off.ShouldCoalesce());
    CHECK_FALSE(negative.ShouldCoalesce());
  }
}

TEST_CASE("windows that gather two or more events keep coalescing on") {
  CoalescePolicy policy(20'000);
  CHECK(policy.window_ns() == 20'000);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(policy.ShouldCoalesce());
    policy.Gathered(2 + i % 7);
  }
  CHECK(policy.skip() == 0);
}

TEST_CASE("windows that gather one event or none back off exponentially") {
  CoalescePolicy policy(20'000);
  REQUIRE(policy.ShouldCoalesce());
  policy.Gathered(1);
  CHECK(WaitsUntilNextWindow(policy) == 1);
  policy.Gathered(0);
  CHECK(WaitsUntilNextWindow(policy) == 2);
  policy.Gathered(1);
  CHECK(WaitsUntilNextWindow(policy) == 4);
  // Doubling stops at kMaxBackoff: a lone ping-pong connection is delayed
  // on at most one wait in kMaxBackoff + 1.
  int last = 0;
  for (int i = 0; i < 20; ++i) {
    policy.Gathered(1);
    last = WaitsUntilNextWindow(policy);
    CHECK(last <= static_cast<int>(CoalescePolicy::kMaxBackoff));
  }
  CHECK(last == static_cast<int>(CoalescePolicy::kMaxBackoff));
}

TEST_CASE("one window that batches ends the back-off") {
  CoalescePolicy policy(20'000);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(WaitsUntilNextWindow(policy) >= 0);
    policy.Gathered(0);
  }
  CHECK(policy.skip() == 16);  // 1, 2, 4, 8, 16
  WaitsUntilNextWindow(policy);
  policy.Gathered(3);
  CHECK(WaitsUntilNextWindow(policy) == 0);
  policy.Gathered(1);  // back-off restarts from one wait
  CHECK(WaitsUntilNextWindow(policy) == 1);
}

}  // namespace
}  // namespace actnet
