// ActorTable: a loop's registry of its live actors, and their owner:
// slot -> (actor, generation), with a free list. Unregistering bumps the
// slot's generation, so refs to the old actor stop resolving; messages for
// them are dead letters, never delivered to the slot's next actor.
//
// Thread contract: the owning loop's thread only, except dead_letters(),
// which any thread may read.
#ifndef ACTNET_ACTORS_ACTOR_TABLE_H_
#define ACTNET_ACTORS_ACTOR_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "actors/actor.h"
#include "actors/actor_ref.h"
#include "actors/envelope.h"

namespace actnet::internal {

class ActorTable {
 public:
  explicit ActorTable(uint32_t loop_index) : loop_(loop_index) {}
  ActorTable(const ActorTable&) = delete;
  ActorTable& operator=(const ActorTable&) = delete;

  // Takes ownership of `actor`, registers it and returns its ref (also
  // stored in the actor).
  ActorRef Register(std::unique_ptr<Actor> actor);
  // Removes the actor and hands it back (null if the ref is not live):
  // later messages to its ref are dead letters. The caller decides when it
  // is destroyed (a loop keeps it until the end of its iteration).
  std::unique_ptr<Actor> Unregister(const ActorRef& ref);

  // The live actor for a target, or null.
  Actor* Resolve(MessageTarget t) const {
    if (t.slot >= entries_.size()) return nullptr;
    const Entry& e = entries_[t.slot];
    return e.generation == t.generation ? e.actor.get() : nullptr;
  }

  // Hands the message to its target actor; a missing target makes it a
  // dead letter (counted, payload destroyed by the caller). Returns whether
  // it was delivered.
  bool Deliver(Envelope& message) {
    Actor* actor = Resolve(message.target());
    if (actor == nullptr) {
      CountDeadLetter();
      return false;
    }
    actor->Receive(message);
    return true;
  }

  void CountDeadLetter() {
    // Memory ordering: relaxed; a statistic read by other threads.
    dead_letters_.store(dead_letters_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  }

  // The live actors' refs, in slot order (a snapshot: callers may register
  // and unregister while walking it).
  std::vector<ActorRef> LiveRefs() const;

  size_t size() const { return live_; }
  uint32_t loop_index() const { return loop_; }
  // Thread-safe.
  uint64_t dead_letters() const {
    return dead_letters_.load(std::memory_order_relaxed);
  }

 private:
  struct Entry {
    std::unique_ptr<Actor> actor;
    uint32_t generation = 1;
    uint32_t next_free = 0;
  };
  static constexpr uint32_t kNoFree = 0xFFFFFFFFu;

  uint32_t loop_;
  std::vector<Entry> entries_;
  uint32_t free_head_ = kNoFree;
  size_t live_ = 0;
  std::atomic<uint64_t> dead_letters_{0};
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_ACTOR_TABLE_H_
