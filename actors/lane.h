// Lane: one sending loop's single-producer, single-consumer ring of
// envelopes into another loop's mailbox (the Disruptor's single-producer
// sequencer). The producer moves a batch of envelopes into free slots and
// publishes them with one store of its cursor; the consumer reads that
// cursor once per batch, runs the envelopes and frees their slots with one
// store of its own position. No per-slot markers, no read-modify-write:
// each side keeps a cached copy of the other's position and re-reads it
// only when the copy says full (producer) or empty (consumer).
//
// Thread contract: Publish from the one producer thread; Consume and
// HasPending from the one consumer thread. Envelopes are owned by the lane
// from Publish until consumed; the destructor destroys what is left.
#ifndef ACTNET_ACTORS_LANE_H_
#define ACTNET_ACTORS_LANE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "actors/check.h"
#include "actors/envelope.h"
#include "actors/envelope_queue.h"
#include "actors/sequence.h"

namespace actnet {

class Lane {
 public:
  // capacity: slots, a power of two.
  explicit Lane(size_t capacity)
      : mask_(capacity - 1), slots_(new Envelope[capacity]) {
    ACTNET_CHECK(capacity >= 2 && (capacity & (capacity - 1)) == 0);
  }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer. Moves envelopes from the front of `from` into free slots and
  // publishes them; returns how many (fewer than from.size() when full).
  size_t Publish(EnvelopeQueue& from) {
    const int64_t want = static_cast<int64_t>(from.size());
    if (want == 0) return 0;
    const int64_t cap = static_cast<int64_t>(capacity());
    int64_t room = cap - (published_ - cached_consumed_);
    if (room < want) {
      // Memory ordering: acquire pairs with Consume's release store: the
      // slots below it have been run and reset.
      cached_consumed_ = consumed_.Load(std::memory_order_acquire);
      room = cap - (published_ - cached_consumed_);
    }
    const int64_t n = room < want ? room : want;
    for (int64_t i = 0; i < n; ++i) {
      slots_[static_cast<size_t>(published_ + i) & mask_] =
          std::move(from.Front());
      from.PopFront();
    }
    if (n > 0) {
      published_ += n;
      // Memory ordering: release publishes the slots written above; pairs
      // with Consume's acquire load.
      cursor_.Store(published_, std::memory_order_release);
    }
    return static_cast<size_t>(n);
  }

  // Consumer. Runs fn(Envelope&) on up to `max` published envelopes in
  // order (fn may move one out), then frees their slots. Returns how many.
  template <class Fn>
  size_t Consume(size_t max, Fn& fn) {
    if (next_ == available_) {
      // Memory ordering: acquire pairs with Publish's release store.
      available_ = cursor_.Load(std::memory_order_acquire);
      if (next_ == available_) return 0;
    }
    size_t n = 0;
    while (next_ != available_ && n < max) {
      Envelope& e = slots_[static_cast<size_t>(next_) & mask_];
      fn(e);
      e.Reset();
      ++next_;
      ++n;
    }
    // Memory ordering: release hands the reset slots back; pairs with
    // Publish's acquire load.
    consumed_.Store(next_, std::memory_order_release);
    return n;
  }

  // Consumer. Is anything published and not yet consumed?
  // Memory ordering: seq_cst, the consumer half of the parking handshake
  // (Mailbox::TryPark); the producer fences between publishing and its
  // load of `sleeping`.
  bool HasPending() const {
    return next_ != available_ ||
           cursor_.Load(std::memory_order_seq_cst) != next_;
  }

 private:
  Sequence cursor_{0};    // published: slots below are readable (producer)
  Sequence consumed_{0};  // run: slots below are free (consumer)
  // Producer-private.
  alignas(kFalseSharingRange) int64_t published_ = 0;
  int64_t cached_consumed_ = 0;
  // Consumer-private.
  alignas(kFalseSharingRange) int64_t next_ = 0;
  int64_t available_ = 0;
  const size_t mask_;
  std::unique_ptr<Envelope[]> slots_;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_LANE_H_
