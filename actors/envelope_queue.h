// EnvelopeQueue: an unbounded FIFO of envelopes for one thread: a loop's
// local queue (messages between actors of the same loop, which never touch
// a ring) and each outbox's backlog. A power-of-two array that doubles when
// full and keeps its memory, so a steady state allocates nothing.
// Not thread-safe: owned by one loop thread.
#ifndef ACTNET_ACTORS_ENVELOPE_QUEUE_H_
#define ACTNET_ACTORS_ENVELOPE_QUEUE_H_

#include <cstddef>
#include <memory>
#include <utility>

#include "actors/envelope.h"

namespace actnet {

class EnvelopeQueue {
 public:
  EnvelopeQueue() = default;
  EnvelopeQueue(const EnvelopeQueue&) = delete;
  EnvelopeQueue& operator=(const EnvelopeQueue&) = delete;
  EnvelopeQueue(EnvelopeQueue&& other) noexcept { TakeFrom(other); }
  EnvelopeQueue& operator=(EnvelopeQueue&& other) noexcept {
    if (this != &other) {
      Clear();
      TakeFrom(other);
    }
    return *this;
  }
  ~EnvelopeQueue() { Clear(); }

  bool empty() const { return head_ == tail_; }
  size_t size() const { return tail_ - head_; }

  void Push(Envelope&& e) {
    if (size() == capacity_) Grow();
    slots_[tail_++ & (capacity_ - 1)] = std::move(e);
  }

  template <class T, class... Args>
  void Emplace(MessageTarget target, Args&&... args) {
    if (size() == capacity_) Grow();
    slots_[tail_++ & (capacity_ - 1)].template Emplace<T>(
        target, std::forward<Args>(args)...);
  }

  Envelope& Front() { return slots_[head_ & (capacity_ - 1)]; }
  // Destroys the front envelope's payload (if still there) and drops it.
  void PopFront() { slots_[head_++ & (capacity_ - 1)].Reset(); }
  Envelope TakeFront() {
    Envelope e = std::move(Front());
    ++head_;
    return e;
  }

  void Clear() {
    while (!empty()) PopFront();
    head_ = tail_ = 0;
  }

 private:
  void Grow() {
    const size_t new_capacity = capacity_ == 0 ? 16 : capacity_ * 2;
    std::unique_ptr<Envelope[]> bigger(new Envelope[new_capacity]);
    const size_t n = size();
    for (size_t i = 0; i < n; ++i) {
      bigger[i] = std::move(slots_[(head_ + i) & (capacity_ - 1)]);
    }
    slots_ = std::move(bigger);
    capacity_ = new_capacity;
    head_ = 0;
    tail_ = n;
  }

  // Leaves `other` empty and valid (a defaulted move would keep its
  // indices while taking its array).
  void TakeFrom(EnvelopeQueue& other) {
    slots_ = std::move(other.slots_);
    capacity_ = std::exchange(other.capacity_, 0);
    head_ = std::exchange(other.head_, 0);
    tail_ = std::exchange(other.tail_, 0);
  }

  std::unique_ptr<Envelope[]> slots_;
  size_t capacity_ = 0;
  size_t head_ = 0;  // monotonically increasing; index = head_ & mask
  size_t tail_ = 0;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_ENVELOPE_QUEUE_H_
