// Sequence: a 64-bit counter alone on its own pair of cache lines, the unit
// the Disruptor ring is built from (the producers' claim cursor, the
// consumer's published position). Padding to 128 bytes keeps the adjacent-
// line prefetcher from pairing it with a neighbour. Thread-safe.
#ifndef ACTNET_ACTORS_SEQUENCE_H_
#define ACTNET_ACTORS_SEQUENCE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace actnet {

inline constexpr size_t kCacheLine = 64;
// Two lines: x86 prefetches cache lines in adjacent pairs.
inline constexpr size_t kFalseSharingRange = 2 * kCacheLine;

class alignas(kFalseSharingRange) Sequence {
 public:
  explicit Sequence(int64_t initial = 0) : value_(initial) {}
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  int64_t Load(std::memory_order order = std::memory_order_acquire) const {
    return value_.load(order);
  }
  void Store(int64_t v, std::memory_order order = std::memory_order_release) {
    value_.store(v, order);
  }
  int64_t FetchAdd(int64_t delta,
                   std::memory_order order = std::memory_order_seq_cst) {
    return value_.fetch_add(delta, order);
  }

 private:
  std::atomic<int64_t> value_;
  char padding_[kFalseSharingRange - sizeof(std::atomic<int64_t>)];
};

static_assert(sizeof(Sequence) == kFalseSharingRange);

}  // namespace actnet

#endif  // ACTNET_ACTORS_SEQUENCE_H_
