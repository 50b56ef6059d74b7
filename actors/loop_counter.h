// LoopCounter: a statistic with one writer (its loop's thread) and any
// number of readers, as LoopStats reports it.
#ifndef ACTNET_ACTORS_LOOP_COUNTER_H_
#define ACTNET_ACTORS_LOOP_COUNTER_H_

#include <atomic>
#include <cstdint>

namespace actnet::internal {

class LoopCounter {
 public:
  // Writer thread only: a plain load and store, no locked instruction.
  // Memory ordering: relaxed; readers want a value, not an order.
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n,
                 std::memory_order_relaxed);
  }
  // Thread-safe.
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_LOOP_COUNTER_H_
