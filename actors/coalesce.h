// CoalescePolicy: when a loaded loop thread about to block should first
// sleep a short window (not waiting on the backend, so the events of the
// window wake nobody) and then take everything that arrived in one pass.
// It coalesces only while the thread is busy enough (a share of wall time
// with hysteresis), only while windows gather two or more events (backing
// off exponentially otherwise), and sleeps shorter windows near
// saturation. The reasoning and its measurements are in
// docs/architecture.md ("Coalescing wake-ups"). Owned by one LoopThread;
// not thread-safe.
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

  // The window to sleep now: the loop's idle share of kCycleNs (a window
  // of T at idle share i makes a cycle of about T / i, and requests queue
  // behind it), never below kMinSleepNs (a shorter sleep costs as much and
  // gathers nothing), never above window_ns().
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
