#include "actors/ring.h"

#include <algorithm>
#include <bit>
#include <new>

namespace actnet {

MpscRing::MpscRing(size_t capacity, size_t max_producers, size_t max_claim)
    : mask_(capacity - 1),
      shift_(std::countr_zero(capacity)),
      max_claim_(max_claim),
      reserve_(max_producers * max_claim),
      prefetch_ahead_(
          std::min<int64_t>(kPrefetchAhead, static_cast<int64_t>(reserve_))) {
  ACTNET_CHECK_MSG(std::has_single_bit(capacity),
                   "ring capacity must be a power of two");
  ACTNET_CHECK_MSG(max_producers >= 1 && max_claim >= 1, "empty ring config");
  ACTNET_CHECK_MSG(reserve_ <= capacity / 2,
                   "ring too small for max_producers * max_claim");
  void* raw = ::operator new[](capacity * sizeof(Envelope),
                               std::align_val_t{kCacheLine});
  Envelope* slots = static_cast<Envelope*>(raw);
  const uint64_t not_published = internal::EnvelopeSlot::PackHeader(
      nullptr, static_cast<uint16_t>(0xFFFF));
  for (size_t i = 0; i < capacity; ++i) {
    Envelope* e = ::new (&slots[i]) Envelope();
    *internal::EnvelopeSlot::HeaderWord(e) = not_published;
  }
  slots_.reset(slots);
}

void MpscRing::SlotDeleter::operator()(Envelope* p) const {
  ::operator delete[](p, std::align_val_t{kCacheLine});
}

MpscRing::~MpscRing() {
  // Destroy whatever was published but never consumed; slots' round bits
  // would otherwise confuse Envelope's destructor, so do it by hand.
  ConsumeBatch(capacity(), [](Envelope&) {});
}

}  // namespace actnet
