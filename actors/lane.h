// Lane: one sending loop's single-producer, single-consumer ring of
// envelopes into another loop's mailbox (the Disruptor's single-producer
// sequencer). The producer constructs envelopes straight into free slots
// (TryPlace) and publishes everything placed with one store of its cursor
// (Publish); the consumer reads that cursor once per batch, runs the
// envelopes and frees their slots with one store of its own position. No
// per-slot markers, no read-modify-write: each side keeps a cached copy of
// the other's position and re-reads it only when the copy says full
// (producer) or empty (consumer). The consumer writes every slot it
// consumes (its empty header), which takes the line from the producer's
// cache: the producer's next lap then gets it by a miss, not by upgrading
// a shared copy, which measured much slower with the two cores far apart
// (docs/mailbox_bench.md).
//
// Thread contract: TryPlace, TryBuild, Publish and placed() from the one
// producer thread; Consume and HasPending from the one consumer thread.
// Envelopes are owned by the lane from TryPlace or TryBuild until
// consumed; the destructor (once neither side runs) destroys what is left.
#ifndef ACTNET_ACTORS_LANE_H_
#define ACTNET_ACTORS_LANE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "actors/check.h"
#include "actors/envelope.h"
#include "actors/envelope_queue.h"
#include "actors/sequence.h"

namespace actnet {

class Lane {
 public:
  // capacity: slots, a power of two.
  explicit Lane(size_t capacity)
      : mask_(capacity - 1), slots_(new Slot[capacity]) {
    ACTNET_CHECK(capacity >= 2 && (capacity & (capacity - 1)) == 0);
  }
  ~Lane() {
    for (int64_t seq = next_; seq != placed_; ++seq) At(seq)->~Envelope();
  }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer. Moves `e` into the next free slot, unpublished until the
  // next Publish; false (e untouched) when the lane is full.
  bool TryPlace(Envelope& e) {
    Slot* slot = FreeSlot();
    if (slot == nullptr) return false;
    ::new (static_cast<void*>(slot)) Envelope(std::move(e));
    ++placed_;
    return true;
  }
  // Producer. Constructs an envelope in the next free slot with
  // build(Envelope&) (given an empty envelope), unpublished until the next
  // Publish; false (build not called) when the lane is full. If build
  // throws, nothing is placed.
  template <class Build>
  bool TryBuild(Build&& build) {
    Slot* slot = FreeSlot();
    if (slot == nullptr) return false;
    build(*::new (static_cast<void*>(slot)) Envelope());
    ++placed_;
    return true;
  }

  // Producer: placed and not yet published.
  size_t placed() const { return static_cast<size_t>(placed_ - published_); }

  // Producer. Places what fits from the front of `from`, then publishes
  // every placed envelope; returns how many it published.
  size_t Publish(EnvelopeQueue& from) {
    while (!from.empty() && TryPlace(from.Front())) from.PopFront();
    const int64_t n = placed_ - published_;
    if (n == 0) return 0;
    published_ = placed_;
    // Memory ordering: release publishes the slots written before it;
    // pairs with Consume's acquire load.
    cursor_.Store(published_, std::memory_order_release);
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
      Envelope* e = At(next_);
      fn(*e);
      // Writes the header either way: here, or in fn's move out of it.
      e->Reset();
      ++next_;
      ++n;
    }
    // Memory ordering: release hands the slots back; pairs with TryPlace's
    // acquire load.
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
  struct alignas(kCacheLine) Slot {
    unsigned char bytes[sizeof(Envelope)];
  };
  static_assert(sizeof(Slot) == sizeof(Envelope));

  // The producer's slot stores go through its store buffer in order; one
  // that misses (the consumer read that line last lap) holds back every
  // later store, and a later load of a just-written envelope that the
  // buffer cannot forward (a wider load over narrower stores, as a
  // relocating memcpy does) waits for all of them. Taking each line for
  // writing a few slots ahead overlaps those misses instead. Measured in
  // docs/mailbox_bench.md.
  static constexpr int64_t kPrefetchAhead = 8;

  // Does this CPU prefetch for writing (x86: CPUID 0x80000001 ECX.PRFCHW)?
  // Probed once per process.
  static bool CanPrefetchForWrite() {
#if defined(__x86_64__)
    static const bool can = [] {
      unsigned a = 0, b = 0, c = 0, d = 0;
      return __get_cpuid(0x80000001, &a, &b, &c, &d) != 0 &&
             (c & (1u << 8)) != 0;
    }();
    return can;
#else
    return true;
#endif
  }
  // A hint only: the line moves to this core in exclusive state; no read
  // or write of the memory happens in the C++ sense.
  static void PrefetchForWrite(const void* p) {
#if defined(__x86_64__)
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p, 1, 3);
#endif
  }

  // Producer: the slot at placed_ if it is free, else null.
  Slot* FreeSlot() {
    const int64_t cap = static_cast<int64_t>(capacity());
    if (placed_ - cached_consumed_ == cap) {
      // Memory ordering: acquire pairs with Consume's release store: the
      // slots below it have been run and their payloads destroyed.
      cached_consumed_ = consumed_.Load(std::memory_order_acquire);
      if (placed_ - cached_consumed_ == cap) return nullptr;
    }
    // Ask for a later slot's line now, if it is known free, so the stores
    // to it need not wait for the consumer's copy to be taken back.
    if (prefetch_ && placed_ + kPrefetchAhead - cached_consumed_ < cap) {
      PrefetchForWrite(&slots_[static_cast<size_t>(placed_ + kPrefetchAhead) &
                               mask_]);
    }
    return &slots_[static_cast<size_t>(placed_) & mask_];
  }

  Envelope* At(int64_t seq) const {
    return std::launder(reinterpret_cast<Envelope*>(
        &slots_[static_cast<size_t>(seq) & mask_]));
  }

  // Read by both sides, written by neither: a line of its own.
  alignas(kFalseSharingRange) const size_t mask_;
  const std::unique_ptr<Slot[]> slots_;
  const bool prefetch_ = CanPrefetchForWrite();
  Sequence cursor_{0};    // published: slots below are readable (producer)
  Sequence consumed_{0};  // run: slots below are free (consumer)
  // Producer-private.
  alignas(kFalseSharingRange) int64_t placed_ = 0;
  int64_t published_ = 0;
  int64_t cached_consumed_ = 0;
  // Consumer-private.
  alignas(kFalseSharingRange) int64_t next_ = 0;
  int64_t available_ = 0;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_LANE_H_
