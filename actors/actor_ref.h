// ActorRef: a value that names an actor anywhere in the engine: the index of
// the loop it lives on, its slot in that loop's actor table, and the slot's
// generation when the actor was registered. Copyable, comparable and safe to
// pass between threads; it never dangles: a message sent to a ref whose
// actor has died (or whose slot was reused) is counted as a dead letter and
// never reaches another actor.
#ifndef ACTNET_ACTORS_ACTOR_REF_H_
#define ACTNET_ACTORS_ACTOR_REF_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "actors/envelope.h"

namespace actnet {

struct ActorRef {
  static constexpr uint32_t kNoLoop = 0xFFFFFFFFu;

  uint32_t loop = kNoLoop;
  uint32_t slot = 0;
  uint32_t generation = 0;  // 0 is never a live generation

  bool valid() const { return loop != kNoLoop && generation != 0; }
  MessageTarget target() const { return MessageTarget{slot, generation}; }
  std::string ToString() const {
    return absl::StrCat("actor(", loop, ":", slot, "#", generation, ")");
  }
  friend bool operator==(const ActorRef& a, const ActorRef& b) {
    return a.loop == b.loop && a.slot == b.slot && a.generation == b.generation;
  }
  friend bool operator!=(const ActorRef& a, const ActorRef& b) {
    return !(a == b);
  }
  template <typename H>
  friend H AbslHashValue(H h, const ActorRef& r) {
    return H::combine(std::move(h), r.loop, r.slot, r.generation);
  }
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_ACTOR_REF_H_
