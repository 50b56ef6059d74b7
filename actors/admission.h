// Admission: one reserved place under EngineOptions::max_connections, taken
// when a listener accepts a socket and given back when the connection that
// holds it is destroyed, or when the socket is dropped before it becomes
// one (a hand-off to a stopping loop, a failed registration). Reserving at
// accept time, not at registration on the target loop, keeps a burst from
// being over-admitted while hand-offs are in flight. Move-only.
#ifndef ACTNET_ACTORS_ADMISSION_H_
#define ACTNET_ACTORS_ADMISSION_H_

#include <atomic>
#include <cstdint>
#include <utility>

namespace actnet {

class Admission {
 public:
  Admission() = default;
  // Takes a place if fewer than `limit` are taken; check held() afterwards.
  Admission(std::atomic<int64_t>* counter, int64_t limit) {
    // Memory ordering: relaxed; the counter is only a bound, nothing is
    // published through it.
    if (counter->fetch_add(1, std::memory_order_relaxed) < limit) {
      counter_ = counter;
    } else {
      counter->fetch_sub(1, std::memory_order_relaxed);
    }
  }
  Admission(Admission&& o) noexcept : counter_(std::exchange(o.counter_, nullptr)) {}
  Admission& operator=(Admission&& o) noexcept {
    if (this != &o) {
      Release();
      counter_ = std::exchange(o.counter_, nullptr);
    }
    return *this;
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  ~Admission() { Release(); }

  bool held() const { return counter_ != nullptr; }

 private:
  void Release() {
    if (counter_ != nullptr) counter_->fetch_sub(1, std::memory_order_relaxed);
    counter_ = nullptr;
  }
  std::atomic<int64_t>* counter_ = nullptr;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_ADMISSION_H_
