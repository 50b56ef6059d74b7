// EventLoop: one of an engine's event loops, as handlers and actors see it.
// A loop is an actor that owns a share of the engine's connections (its
// child actors), its timers and the user actors spawned on it; it runs on
// one thread (with more loops than CPUs, several loops share one thread:
// EngineOptions::cohost_loops) and everything on it runs one callback at a
// time, so what lives on a loop needs no locks.
//
// Thread contract: index(), engine(), Current(), IsCurrent() and stats()
// are thread-safe; everything else is loop thread only (debug-asserted).
// Other threads reach a loop through Engine (Post, Tell, AsyncWrite...).
#ifndef ACTNET_ACTORS_EVENT_LOOP_H_
#define ACTNET_ACTORS_EVENT_LOOP_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "actors/actor.h"
#include "actors/actor_ref.h"
#include "actors/loop_stats.h"

namespace actnet {

class Conn;
class Engine;

class EventLoop {
 public:
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Thread-safe.
  uint32_t index() const { return index_; }
  Engine& engine() const { return *engine_; }
  // The loop whose thread is calling, or null on any other thread.
  static EventLoop* Current();
  bool IsCurrent() const { return Current() == this; }
  // This loop's counters (see loop_stats.h).
  LoopStats stats() const;

  // ---- Loop thread only ----
  // Runs `fn` on this loop after `delay`.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn);
  // Registers a user actor on this loop; the loop owns it until Despawn
  // (or the engine stops).
  ActorRef Spawn(std::unique_ptr<Actor> actor);
  void Despawn(const ActorRef& ref);
  // The live actor behind a ref on this loop, or null.
  Actor* Find(const ActorRef& ref) const;
  Conn* FindConn(const ActorRef& ref) const;
  // Connections currently owned by this loop.
  size_t connection_count() const;
  // Monotonic time of the current iteration, in nanoseconds.
  int64_t now_ns() const;
  uint64_t dead_letters() const;

 protected:
  EventLoop(Engine* engine, uint32_t index) : engine_(engine), index_(index) {}
  ~EventLoop() = default;

 private:
  Engine* const engine_;
  const uint32_t index_;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_EVENT_LOOP_H_
