// CoalescePolicy: when an event loop sleeps a coalescing window before
// blocking: only while it is loaded (busy share with hysteresis), and how
// it backs off when windows gather nothing to batch.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actors/coalesce.h"

#include "doctest/doctest.h"

namespace actnet {
namespace {

constexpr int64_t kPeriod = CoalescePolicy::kPeriodNs;

// One period in which the loop waited `idle_percent` of the time.
void Period(CoalescePolicy& policy, int64_t* now, int idle_percent) {
  policy.Observe(*now);
  policy.RecordIdle(kPeriod * idle_percent / 100);
  *now += kPeriod;
  policy.Observe(*now);
}

CoalescePolicy LoadedPolicy(int64_t window_ns) {
  CoalescePolicy policy(window_ns);
  int64_t now = 1'000;
  Period(policy, &now, 0);
  REQUIRE(policy.loaded());
  return policy;
}

// Blocking waits until the policy asks for the next window (0 = at once).
int WaitsUntilNextWindow(CoalescePolicy& policy) {
  int waits = 0;
  while (!policy.ShouldCoalesce()) ++waits;
  return waits;
}

TEST_CASE("a zero or negative window never coalesces") {
  CoalescePolicy off = LoadedPolicy(0);
  CoalescePolicy negative = LoadedPolicy(-5);
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE(off.ShouldCoalesce());
    CHECK_FALSE(negative.ShouldCoalesce());
  }
}

TEST_CASE("windows that gather two or more events keep coalescing on") {
  CoalescePolicy policy = LoadedPolicy(20'000);
  CHECK(policy.window_ns() == 20'000);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(policy.ShouldCoalesce());
    policy.Gathered(2 + i % 7);
  }
  CHECK(policy.skip() == 0);
}

TEST_CASE("windows that gather one event or none back off exponentially") {
  CoalescePolicy policy = LoadedPolicy(20'000);
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
  CoalescePolicy policy = LoadedPolicy(20'000);
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

TEST_CASE("only a loaded loop coalesces: on at the busy threshold, off below the lower one") {
  CoalescePolicy policy(20'000);
  int64_t now = 5'000;
  CHECK_FALSE(policy.loaded());
  CHECK_FALSE(policy.ShouldCoalesce());  // a new loop starts unloaded
  constexpr int kOn = CoalescePolicy::kBusyOnPercent;
  constexpr int kOff = kOn - CoalescePolicy::kHysteresisPercent;
  constexpr int kBetween = (kOn + kOff) / 2;
  static_assert(kOff < kBetween && kBetween < kOn);
  Period(policy, &now, 100 - (kOn - 1));  // busy just under the threshold
  CHECK_FALSE(policy.ShouldCoalesce());
  Period(policy, &now, 100 - kOn);  // busy at it
  CHECK(policy.ShouldCoalesce());
  // Coalescing lowers the busy share; between the thresholds it stays on.
  Period(policy, &now, 100 - kBetween);
  CHECK(policy.ShouldCoalesce());
  Period(policy, &now, 100 - kOff);
  CHECK(policy.ShouldCoalesce());
  Period(policy, &now, 100 - (kOff - 1));  // just under the lower one
  CHECK_FALSE(policy.ShouldCoalesce());
  Period(policy, &now, 100 - kBetween);  // and between them it stays off
  CHECK_FALSE(policy.ShouldCoalesce());
}

TEST_CASE("a busy threshold of zero coalesces whatever the load") {
  CoalescePolicy policy(20'000, 0);
  int64_t now = 0;
  Period(policy, &now, 100);  // idle all along
  CHECK(policy.ShouldCoalesce());
  Period(policy, &now, 100);
  CHECK(policy.ShouldCoalesce());
}

TEST_CASE("the load is judged over whole periods") {
  CoalescePolicy policy(20'000);
  int64_t now = 0;
  policy.Observe(now);
  // Busy all along, but observed only a tenth of a period apart: no verdict
  // until a full period has passed.
  for (int i = 1; i < 10; ++i) {
    now += kPeriod / 10;
    policy.Observe(now);
    CHECK_FALSE(policy.loaded());
  }
  now += kPeriod / 10;
  policy.Observe(now);
  CHECK(policy.loaded());
  // Idle time beyond the elapsed time (a clock step) counts as all idle.
  policy.RecordIdle(10 * kPeriod);
  now += kPeriod;
  policy.Observe(now);
  CHECK_FALSE(policy.loaded());
}

TEST_CASE("the window slept shrinks with the loop's idle share, within its bounds") {
  constexpr int64_t kWindow = 80'000;
  CoalescePolicy policy(kWindow, 0);
  CHECK(policy.sleep_ns() == kWindow);  // before any verdict: the window
  int64_t now = 0;
  // 35% idle: 0.35 of kCycleNs is more than the window, so the window.
  Period(policy, &now, 35);
  CHECK(policy.sleep_ns() == kWindow);
  // 20% idle: a fifth of the cycle.
  Period(policy, &now, 20);
  CHECK(policy.sleep_ns() == CoalescePolicy::kCycleNs / 5);
  // 10% idle (echo at 90% of its peak): a tenth.
  Period(policy, &now, 10);
  CHECK(policy.sleep_ns() == CoalescePolicy::kCycleNs / 10);
  CHECK(policy.sleep_ns() < kWindow);
  // Saturated: never below the floor, and coalescing itself stays on (the
  // policy decides whether, sleep_ns() only how long).
  Period(policy, &now, 0);
  CHECK(policy.sleep_ns() == CoalescePolicy::kMinSleepNs);
  CHECK(policy.ShouldCoalesce());
  // Load falls again: back to the full window.
  Period(policy, &now, 60);
  CHECK(policy.sleep_ns() == kWindow);
  // A window shorter than the floor is slept as configured.
  CoalescePolicy short_window(4'000, 0);
  Period(short_window, &now, 0);
  CHECK(short_window.sleep_ns() == 4'000);
  // A period that spans a very long wait (idle all along) does not
  // overflow: the window.
  CoalescePolicy long_wait(kWindow, 0);
  int64_t t = 0;
  long_wait.Observe(t);
  long_wait.RecordIdle(int64_t{40} * 24 * 3600 * 1'000'000'000);  // 40 days
  t += int64_t{40} * 24 * 3600 * 1'000'000'000;
  long_wait.Observe(t);
  CHECK(long_wait.sleep_ns() == kWindow);
}

}  // namespace
}  // namespace actnet
