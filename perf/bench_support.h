// Small pieces shared by the actnet benchmarks: CPU pinning, a back-off for
// full or empty queues, start/stop coordination for one timed run, and
// statistics over repetitions (median, min, max, percentiles).
#ifndef ACTNET_PERF_BENCH_SUPPORT_H_
#define ACTNET_PERF_BENCH_SUPPORT_H_

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace actnet::bench {

using Clock = std::chrono::steady_clock;

inline constexpr size_t kLine = 128;  // false-sharing range (two lines)

// Pins the calling thread to one CPU; cpu < 0 leaves it unpinned.
inline void PinTo(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// Waiting on a full (producer) or empty (consumer) queue: pause a few
// times, then give the core away (two producers may share one core).
class Backoff {
 public:
  void Wait() {
    if (++spins_ < 64) {
      _mm_pause();
    } else {
      spins_ = 0;
      std::this_thread::yield();
    }
  }
  void Reset() { spins_ = 0; }

 private:
  int spins_ = 0;
};

struct alignas(kLine) PaddedCounter {
  std::atomic<uint64_t> value{0};
};

// Start line and stop flag for the threads of one timed run.
class RunControl {
 public:
  explicit RunControl(int threads) : threads_(threads) {}

  // Each thread calls this once, then runs until stop() is true.
  void ArriveAndWait() {
    ready_.fetch_add(1, std::memory_order_acq_rel);
    while (!go_.load(std::memory_order_acquire)) _mm_pause();
  }
  // The timing thread: waits for all, starts them, lets them run for
  // `duration`, then raises the stop flag. Returns the start time.
  Clock::time_point StartAndStopAfter(std::chrono::microseconds duration) {
    while (ready_.load(std::memory_order_acquire) < threads_) {
      std::this_thread::yield();
    }
    const Clock::time_point start = Clock::now();
    go_.store(true, std::memory_order_release);
    std::this_thread::sleep_until(start + duration);  // timing, not sync
    stop_.store(true, std::memory_order_release);
    return start;
  }
  bool stop() const { return stop_.load(std::memory_order_relaxed); }

 private:
  const int threads_;
  alignas(kLine) std::atomic<int> ready_{0};
  alignas(kLine) std::atomic<bool> go_{false};
  alignas(kLine) std::atomic<bool> stop_{false};
};

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
inline double Min(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}
inline double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}
// The p-th percentile (0..100) of sorted samples (nearest rank).
inline double Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * sorted.size());
  if (rank >= sorted.size()) rank = sorted.size() - 1;
  return sorted[rank];
}

}  // namespace actnet::bench

#endif  // ACTNET_PERF_BENCH_SUPPORT_H_
