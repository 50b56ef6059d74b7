// Wake-up coalescing for an event loop that is about to block.
//
// A loop that blocks in epoll_wait is woken by the first event that
// arrives, and the waking is paid for by whoever caused the event: a peer
// process whose send readies one of our sockets pays the scheduler work and
// the inter-processor interrupt. Under load from many connections that
// means one wake-up, one epoll_wait and one context switch per request or
// two. Coalescing trades a bounded delay for batching: a loop that would
// block, and whose zero-timeout poll finds fewer than kTrickle events
// ready, first sleeps for a short window *without* being an epoll waiter
// (so the events of that window cost their senders nothing extra), then
// takes everything that arrived in one more zero-timeout poll. Only if that
// poll is empty does it block as usual, so an idle loop still sleeps until
// the next event. (The sleep is clock_nanosleep; in a VM its wake-up can
// take some 30 us longer than asked, which is part of the delay, and it can
// cost the sleeper ~19 us of CPU whatever its length: perf/reference/
// wake_cost. That price, once per window, is what longer windows spread
// over more requests.)
//
// The window only pays when the loop is loaded and when it gathers several
// events. A lightly loaded loop has CPU to spare and the window would only
// add latency (and timer interrupts), so CoalescePolicy coalesces only
// while the loop has been busy (not waiting) for at least busy_on_percent
// (default kBusyOnPercent) of the wall time over a period of kPeriodNs, and
// stops once that falls kHysteresisPercent below it (coalescing itself
// lowers the busy share, hence the gap). Measured here (perf/compare,
// docs/benchmarks.md): redis-benchmark -c 50 keeps a one-loop server ~50%
// busy and gains from windows, while an echo server at half its peak,
// ~39% busy, only lost latency to them. Then it keeps windows on while
// they gather two or more events and backs off exponentially (skipping up
// to kMaxBackoff blocking waits) while they gather one or none: a single
// request/response connection soon goes back to blocking at once and only
// probes now and then. And the window it sleeps shrinks as the loop nears
// saturation (sleep_ns()), so that a loop with little idle time does not
// stretch its cycles and queue requests behind its sleeps.
#ifndef ACTNET_ACTORS_COALESCE_H_
#define ACTNET_ACTORS_COALESCE_H_

#include <algorithm>
#include <cstdint>

namespace actnet {

class CoalescePolicy {
 public:
  static constexpr uint32_t kMaxBackoff = 256;
  // A poll that finds fewer events ready than this is a trickle: the loop
  // sleeps the window before handling them. More, and it takes them at once.
  static constexpr int kTrickle = 4;

  static constexpr int64_t kPeriodNs = 10'000'000;
  static constexpr int kBusyOnPercent = 45;
  static constexpr int kHysteresisPercent = 5;
  // The window slept is at most the loop's idle share of kCycleNs (and at
  // least kMinSleepNs): see sleep_ns().
  static constexpr int64_t kCycleNs = 250'000;
  static constexpr int64_t kMinSleepNs = 10'000;

  // window_ns <= 0 disables coalescing; busy_on_percent 0 coalesces from
  // the first period on, whatever the load.
  explicit CoalescePolicy(int64_t window_ns, int busy_on_percent = kBusyOnPercent)
      : window_ns_(window_ns),
        busy_on_percent_(busy_on_percent),
        busy_off_percent_(busy_on_percent - kHysteresisPercent) {}

  // The configured window: the longest the loop sleeps.
  int64_t window_ns() const { return window_ns_; }

  // The window to sleep now. A window adds its length T to the loop's idle
  // time, so at an idle share i a cycle (sleep, then handle what gathered)
  // lasts about T / i, and the requests of a cycle wait for part of it: a
  // nearly saturated loop sleeping full windows would run long cycles and
  // queue requests behind them. So T is capped at i * kCycleNs, keeping
  // cycles near a quarter of a millisecond: at 35% idle (redis-benchmark
  // -P1 on one loop here) that is 87 us, above the default window; at 10%
  // idle (echo at 90% of peak) 25 us. Never below kMinSleepNs (a shorter
  // sleep costs as much and gathers nothing), nor above window_ns().
  int64_t sleep_ns() const { return sleep_ns_; }

  // The loop's load: RecordIdle after each wait that could block (the time
  // it spent waiting or in a window), Observe with the clock after every
  // wait. Each period of at least kPeriodNs updates loaded().
  void RecordIdle(int64_t ns) { idle_ns_ += ns; }
  void Observe(int64_t now_ns) {
    if (period_start_ns_ < 0) {
      period_start_ns_ = now_ns;
      return;
    }
    const int64_t elapsed = now_ns - period_start_ns_;
    if (elapsed < kPeriodNs) return;
    const int64_t idle = std::min<int64_t>(idle_ns_, elapsed);
    const int64_t busy_percent = 100 - idle * 100 / elapsed;
    const auto cycle_share = static_cast<int64_t>(static_cast<double>(kCycleNs) *
                                                  static_cast<double>(idle) /
                                                  static_cast<double>(elapsed));
    sleep_ns_ = std::min(window_ns_, std::max(kMinSleepNs, cycle_share));
    if (busy_percent >= busy_on_percent_) {
      loaded_ = true;
    } else if (busy_percent < busy_off_percent_) {
      loaded_ = false;
    }
    period_start_ns_ = now_ns;
    idle_ns_ = 0;
  }
  bool loaded() const { return loaded_; }

  // Called each time the loop would block: true means sleep window_ns(),
  // poll with a zero timeout, and report the result to Gathered().
  bool ShouldCoalesce() {
    if (window_ns_ <= 0 || !loaded_) return false;
    if (skip_ > 0) {
      --skip_;
      return false;
    }
    return true;
  }

  // The number of events the zero-timeout poll after a window returned.
  void Gathered(int events) {
    if (events >= 2) {
      backoff_ = 0;
      return;
    }
    backoff_ = backoff_ == 0 ? 1 : std::min(backoff_ * 2, kMaxBackoff);
    skip_ = backoff_;
  }

  // Blocking waits that will be skipped before the next window.
  uint32_t skip() const { return skip_; }

 private:
  const int64_t window_ns_;
  int64_t sleep_ns_ = window_ns_;
  const int busy_on_percent_;
  const int busy_off_percent_;
  int64_t period_start_ns_ = -1;
  int64_t idle_ns_ = 0;
  bool loaded_ = false;
  uint32_t skip_ = 0;
  uint32_t backoff_ = 0;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_COALESCE_H_
