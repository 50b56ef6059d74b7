#include "actors/actor_table.h"

#include <utility>

#include "actors/check.h"

namespace actnet::internal {

ActorRef ActorTable::Register(std::unique_ptr<Actor> actor) {
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
  actor->self_ = ActorRef{loop_, slot, e.generation};
  e.actor = std::move(actor);
  ++live_;
  return e.actor->self_;
}

std::unique_ptr<Actor> ActorTable::Unregister(const ActorRef& ref) {
  if (ref.loop != loop_ || ref.slot >= entries_.size()) return nullptr;
  Entry& e = entries_[ref.slot];
  if (e.generation != ref.generation || e.actor == nullptr) return nullptr;
  std::unique_ptr<Actor> actor = std::move(e.actor);
  actor->self_ = ActorRef{};
  // Generation 0 is reserved for "never live"; skip it on wrap-around.
  e.generation = e.generation + 1 == 0 ? 1 : e.generation + 1;
  e.next_free = free_head_;
  free_head_ = ref.slot;
  --live_;
  return actor;
}

std::vector<ActorRef> ActorTable::LiveRefs() const {
  std::vector<ActorRef> refs;
  refs.reserve(live_);
  for (const Entry& e : entries_) {
    if (e.actor != nullptr) refs.push_back(e.actor->self_);
  }
  return refs;
}

}  // namespace actnet::internal
