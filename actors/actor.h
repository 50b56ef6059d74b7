// Actor and ActorTable.
//
// An Actor is anything that receives messages on one event loop. Its
// Receive() runs on that loop's thread only, one message at a time, so an
// actor needs no locks for its own state.
//
// An ActorTable is a loop's registry of live actors: slot -> (actor,
// generation), with a free list. Unregistering bumps the slot's generation,
// so refs to the old actor stop resolving; messages for them are dead
// letters. The table does not own the actors. Loop thread only, except
// dead_letters(), which any thread may read.
#ifndef ACTNET_ACTORS_ACTOR_H_
#define ACTNET_ACTORS_ACTOR_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "actors/actor_ref.h"
#include "actors/envelope.h"

namespace actnet {

class Actor {
 public:
  virtual ~Actor() = default;
  // Loop thread only. The envelope's payload is destroyed after return
  // unless the actor moves it out.
  virtual void Receive(Envelope& message) = 0;
  // The actor's own ref (valid once registered).
  const ActorRef& self() const { return self_; }

 private:
  friend class ActorTable;
  ActorRef self_;
};

class ActorTable {
 public:
  explicit ActorTable(uint32_t loop_index) : loop_(loop_index) {}
  ActorTable(const ActorTable&) = delete;
  ActorTable& operator=(const ActorTable&) = delete;

  // Registers `actor` (not owned) and returns its ref, also stored in it.
  ActorRef Register(Actor* actor);
  // Removes the actor; later messages to its ref are dead letters.
  void Unregister(const ActorRef& ref);

  // The live actor for a target, or null.
  Actor* Resolve(MessageTarget t) const {
    if (t.slot >= entries_.size()) return nullptr;
    const Entry& e = entries_[t.slot];
    return e.generation == t.generation ? e.actor : nullptr;
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

  size_t size() const { return live_; }
  uint32_t loop_index() const { return loop_; }
  // Thread-safe.
  uint64_t dead_letters() const {
    return dead_letters_.load(std::memory_order_relaxed);
  }

 private:
  struct Entry {
    Actor* actor = nullptr;
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

}  // namespace actnet

#endif  // ACTNET_ACTORS_ACTOR_H_
