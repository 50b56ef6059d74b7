// A log-linear latency histogram in the style of HdrHistogram: values below
// 64 ns have their own bucket, above that each power of two is split into 64
// linear sub-buckets, so any recorded value is reported within 1/64 (1.6%).
// Values are nanoseconds from 1 ns to 60 s (larger ones are clamped and
// counted in `clamped()`). 2,048 counters, no allocation after construction.
//
// Not thread-safe: each load thread owns one and they are merged at the end.
#ifndef ACTNET_PERF_LOADGEN_HISTOGRAM_H_
#define ACTNET_PERF_LOADGEN_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace actnet::perf {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 64
  static constexpr uint64_t kMaxValue = uint64_t{60} * 1000 * 1000 * 1000;
  // kMaxValue < 2^36, so the highest octave index is 36 - kSubBits.
  static constexpr int kBuckets = static_cast<int>(kSub) * (36 - kSubBits + 1);

  static int IndexOf(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - kSubBits;
    const uint64_t sub = (v >> shift) - kSub;
    return static_cast<int>(kSub) * (shift + 1) + static_cast<int>(sub);
  }

  // The largest value that lands in bucket `index` (HdrHistogram's
  // "highest equivalent value"), so percentiles never flatter.
  static uint64_t HighestOf(int index) {
    if (index < static_cast<int>(kSub)) return static_cast<uint64_t>(index);
    const int shift = index / static_cast<int>(kSub) - 1;
    const uint64_t sub = static_cast<uint64_t>(index) % kSub;
    return ((kSub + sub + 1) << shift) - 1;
  }

  void Record(uint64_t ns) {
    if (ns > kMaxValue) {
      ns = kMaxValue;
      ++clamped_;
    }
    ++counts_[IndexOf(ns)];
    ++total_;
    max_ = std::max(max_, ns);
    sum_ += ns;
  }

  void Merge(const LatencyHistogram& other) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    clamped_ += other.clamped_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
  }

  // The value at quantile q in [0, 1]: the smallest bucket whose cumulative
  // count reaches ceil(q * total), reported as that bucket's highest value
  // (capped by the exact maximum). 0 when empty.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(HighestOf(i), max_);
    }
    return max_;
  }

  uint64_t total() const { return total_; }
  uint64_t max() const { return max_; }
  uint64_t clamped() const { return clamped_; }
  double Mean() const {
    return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t clamped_ = 0;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace actnet::perf

#endif  // ACTNET_PERF_LOADGEN_HISTOGRAM_H_
