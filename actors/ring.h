// MpscRing: the Disruptor-style multi-producer, single-consumer ring of
// envelopes (one cache line per slot) that carries messages between event
// loops. Producers claim runs of slots with one fetch-add and publish each
// slot by storing its header word (which carries the slot's round); the
// consumer takes every published slot up to a cap per batch and stores its
// position once per batch. A claim fits or fails at once: a loop never
// waits on another. Messages and their payloads are owned by the ring
// from Publish to consumption.
// Thread contract: TryClaim/Publish from any number of producer threads;
// ConsumeBatch/HasPending from the single consumer thread only.
#ifndef ACTNET_ACTORS_RING_H_
#define ACTNET_ACTORS_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "actors/check.h"
#include "actors/envelope.h"
#include "actors/envelope_slot.h"
#include "actors/sequence.h"

namespace actnet {

// Never waiting for a slot: because the fetch-add claims before it knows,
// a claim is only attempted while `reserve = max_producers * max_claim`
// slots would still be free; at most one claim per producer can be in
// flight between its check and its fetch-add, so those can never run past
// the consumer.
class MpscRing {
 public:
  static constexpr size_t kDefaultMaxClaim = 32;

  // capacity: a power of two. max_producers: how many threads may claim.
  MpscRing(size_t capacity, size_t max_producers,
           size_t max_claim = kDefaultMaxClaim);
  ~MpscRing();
  MpscRing(const MpscRing&) = delete;
  MpscRing& operator=(const MpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }
  size_t max_claim() const { return max_claim_; }
  // Usable room: claims keep `reserve` slots free (see above).
  size_t usable_capacity() const { return capacity() - reserve_; }

  // Producer side. Claims n (1..max_claim) consecutive sequences and returns
  // the first, or -1 when they do not fit (nothing claimed). cached_consumer
  // is the calling producer's own copy of the consumer's position.
  //
  // Memory ordering: the fetch-add is seq_cst so that a producer's later
  // load of the consumer's `sleeping` flag (Mailbox) pairs with the
  // consumer's seq_cst store of that flag and its load of the cursor.
  int64_t TryClaim(size_t n, int64_t* cached_consumer) {
    ACTNET_DCHECK(n >= 1 && n <= max_claim_);
    const int64_t limit = static_cast<int64_t>(capacity() - reserve_);
    // Memory ordering: seq_cst (a plain load on x86) so that this load and
    // every claim's fetch-add sit in one total order, which the reserve
    // argument above reasons about: a stale cursor could pass the check
    // with room that other claims have already taken.
    const int64_t cursor = cursor_.Load(std::memory_order_seq_cst);
    const int64_t end = cursor + static_cast<int64_t>(n);
    if (end - *cached_consumer > limit) {
      // Memory ordering: acquire pairs with the consumer's release store in
      // ConsumeBatch, so slots it freed are seen as destroyed.
      *cached_consumer = consumer_.Load(std::memory_order_acquire);
      if (end - *cached_consumer > limit) return -1;
    }
    const int64_t first =
        cursor_.FetchAdd(static_cast<int64_t>(n), std::memory_order_seq_cst);
    // A producer sending one message at a time asks for ownership of a slot
    // a few sequences ahead, so that its cache-line transfers overlap
    // instead of coming one by one. Batches do not: their run of stores
    // streams well (docs/mailbox_bench.md has the measurements).
    if (n == 1) PrefetchForWrite(&slots_[(first + prefetch_ahead_) & mask_]);
    return first;
  }

  // Moves `message` into claimed sequence `seq` and publishes it.
  void Publish(int64_t seq, Envelope&& message) {
    Envelope* slot = &slots_[seq & mask_];
    const uint64_t header =
        internal::EnvelopeSlot::RelocateInto(message, slot, RoundOf(seq));
    // Memory ordering: release publishes the payload; pairs with the
    // consumer's acquire load of the header in ConsumeBatch.
    std::atomic_ref<uint64_t>(*internal::EnvelopeSlot::HeaderWord(slot))
        .store(header, std::memory_order_release);
  }

  // Convenience for a single message: claim one slot and publish into it.
  bool TryPush(Envelope&& message, int64_t* cached_consumer) {
    const int64_t seq = TryClaim(1, cached_consumer);
    if (seq < 0) return false;
    Publish(seq, std::move(message));
    return true;
  }

  // Consumer side. Calls fn(Envelope&) for each published message in order,
  // at most `max`; fn may move the envelope out. Returns how many.
  template <class Fn>
  size_t ConsumeBatch(size_t max, Fn&& fn) {
    int64_t next = next_;
    size_t n = 0;
    while (n < max) {
      Envelope* slot = &slots_[next & mask_];
      std::atomic_ref<uint64_t> header(
          *internal::EnvelopeSlot::HeaderWord(slot));
      // Memory ordering: acquire pairs with Publish's release store.
      const uint64_t h = header.load(std::memory_order_acquire);
      const uint16_t round = RoundOf(next);
      if (static_cast<uint16_t>(h >> internal::EnvelopeSlot::kRoundShift) !=
          round)
        break;
      fn(*slot);
      DestroySlot(slot, h, round);
      ++next;
      ++n;
    }
    if (n != 0) {
      next_ = next;
      // Memory ordering: release makes the destroyed slots reusable; pairs
      // with the producers' acquire load in TryClaim.
      consumer_.Store(next, std::memory_order_release);
    }
    return n;
  }

  // True when some sequence has been claimed but not yet consumed (it may
  // not be published yet). Consumer thread only.
  //
  // Memory ordering: seq_cst, the consumer half of the sleep handshake.
  bool HasPending() const {
    return cursor_.Load(std::memory_order_seq_cst) != next_;
  }

 private:
  // How far ahead a one-message claim prefetches (docs/mailbox_bench.md).
  // Never more than `reserve`, so the slot is one the consumer has
  // finished with (a hint either way).
  static constexpr int64_t kPrefetchAhead = 4;
  static void PrefetchForWrite(const void* p) {
#if defined(__x86_64__)
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p, 1, 3);
#endif
  }

  uint16_t RoundOf(int64_t seq) const {
    return static_cast<uint16_t>(static_cast<uint64_t>(seq) >> shift_);
  }

  // Destroys a consumed slot's payload. The header keeps the consumed
  // round, which no future publication of this slot carries, so it is
  // written only if the handler moved the payload out (which zeroes it):
  // leaving the line unwritten saves the producer a transfer next lap.
  static void DestroySlot(Envelope* slot, uint64_t published, uint16_t round) {
    std::atomic_ref<uint64_t> header(*internal::EnvelopeSlot::HeaderWord(slot));
    const uint64_t h = header.load(std::memory_order_relaxed);
    if (h == published) {
      const auto* ops = reinterpret_cast<const MessageOps*>(
          h & internal::EnvelopeSlot::kOpsMask);
      if (!ops->trivially_destructible)
        ops->destroy(internal::EnvelopeSlot::Storage(slot));
      return;
    }
    header.store(internal::EnvelopeSlot::PackHeader(nullptr, round),
                 std::memory_order_relaxed);
  }

  Sequence cursor_{0};    // next sequence to claim (producers)
  Sequence consumer_{0};  // everything below is free (written by consumer)
  alignas(kFalseSharingRange) int64_t next_ = 0;  // consumer-private
  size_t mask_;
  int shift_;
  size_t max_claim_;
  size_t reserve_;
  int64_t prefetch_ahead_;
  struct SlotDeleter {
    void operator()(Envelope* p) const;
  };
  std::unique_ptr<Envelope[], SlotDeleter> slots_;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_RING_H_
