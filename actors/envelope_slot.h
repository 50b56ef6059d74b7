// EnvelopeSlot: the mailbox ring's access to an envelope's header word.
// The ring publishes a slot by storing that word (operations table | round
// << 48) with release semantics, so the consumer's one acquire load reads
// the publication flag and the payload type together. Internal: users
// never see a round number. Used by ring.h only.
#ifndef ACTNET_ACTORS_ENVELOPE_SLOT_H_
#define ACTNET_ACTORS_ENVELOPE_SLOT_H_

#include <cstdint>

#include "actors/envelope.h"

namespace actnet::internal {

struct EnvelopeSlot {
  static constexpr int kRoundShift = Envelope::kRoundShift;
  static constexpr uint64_t kOpsMask = Envelope::kOpsMask;

  static uint64_t PackHeader(const MessageOps* o, uint16_t round) {
    return reinterpret_cast<uint64_t>(o) |
           (static_cast<uint64_t>(round) << kRoundShift);
  }
  static uint64_t* HeaderWord(Envelope* e) { return &e->header_; }
  static void* Storage(Envelope* e) { return e->storage_; }

  // Moves `from`'s payload into `slot` (whose previous payload was already
  // destroyed), leaves `from` empty, and returns the header word to
  // publish, with `round`.
  static uint64_t RelocateInto(Envelope& from, Envelope* slot,
                               uint16_t round) noexcept {
    const MessageOps* o = from.ops();
    Envelope::RelocatePayload(o, slot->storage_, from.storage_);
    slot->target_ = from.target_;
    from.header_ = 0;
    return PackHeader(o, round);
  }
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_ENVELOPE_SLOT_H_
