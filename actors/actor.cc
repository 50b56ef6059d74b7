#include "actors/actor.h"

#include "actors/check.h"

namespace actnet {

ActorRef ActorTable::Register(Actor* actor) {
  ACTNET_CHECK(actor != nullptr);
  uint32_t slot;
  if (free_head_ != kNoFree) {
    slot = free_head_;
    free_head_ = entries_[slot].next_free;
  } else {
    slot = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[slot];
  e.actor = actor;
  ++live_;
  actor->self_ = ActorRef{loop_, slot, e.generation};
  return actor->self_;
}

void ActorTable::Unregister(const ActorRef& ref) {
  ACTNET_CHECK(ref.loop == loop_ && ref.slot < entries_.size());
  Entry& e = entries_[ref.slot];
  if (e.generation != ref.generation || e.actor == nullptr) return;
  e.actor->self_ = ActorRef{};
  e.actor = nullptr;
  // Generation 0 is reserved for "never live"; skip it on wrap-around.
  e.generation = e.generation + 1 == 0 ? 1 : e.generation + 1;
  e.next_free = free_head_;
  free_head_ = ref.slot;
  --live_;
}

}  // namespace actnet
