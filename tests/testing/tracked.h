// Tracked<N>: a test payload of exactly N bytes that counts its
// constructions, moves and destructions in process-wide atomics, and
// detects a destructor running twice on the same object (a poisoned marker),
// so a test can prove that every payload is destroyed exactly once whatever
// path its envelope took. Thread-safe (the counters are atomics).
#ifndef ACTNET_TESTS_TESTING_TRACKED_H_
#define ACTNET_TESTS_TESTING_TRACKED_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace actnet::testing {

struct TrackedCounters {
  std::atomic<int64_t> constructed{0};  // value constructions
  std::atomic<int64_t> moved{0};        // move constructions
  std::atomic<int64_t> destroyed{0};
  std::atomic<int64_t> double_destroyed{0};  // destructor on a dead object
  std::atomic<int64_t> moved_from_dead{0};   // move from a dead object

  void Reset() {
    constructed = 0;
    moved = 0;
    destroyed = 0;
    double_destroyed = 0;
    moved_from_dead = 0;
  }
  // Objects alive right now: every construction minus every destruction.
  int64_t live() const { return constructed + moved - destroyed; }
};

inline TrackedCounters& Counters() {
  static TrackedCounters counters;
  return counters;
}

template <size_t N>
struct Tracked {
  static_assert(N > 16, "room for the value, the marker and padding");
  static constexpr uint64_t kAlive = 0xA11FE0A11FE0A11Full;
  static constexpr uint64_t kDead = 0xDEADDEADDEADDEADull;

  explicit Tracked(uint64_t v) : value(v) {
    Counters().constructed.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked(Tracked&& other) noexcept : value(other.value) {
    if (other.marker != kAlive) {
      Counters().moved_from_dead.fetch_add(1, std::memory_order_relaxed);
    }
    Counters().moved.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    if (marker != kAlive) {
      Counters().double_destroyed.fetch_add(1, std::memory_order_relaxed);
    }
    marker = kDead;
    Counters().destroyed.fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t value;
  uint64_t marker = kAlive;
  unsigned char padding[N - 16] = {};
};

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_TESTING_TRACKED_H_
