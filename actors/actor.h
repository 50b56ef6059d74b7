// Actor: anything that receives messages on one event loop. Receive() runs
// on that loop's thread only, one message at a time, so an actor needs no
// locks for its own state. Spawn one with EventLoop::Spawn (or
// Engine::Spawn); its ActorRef, a plain value, lets any thread send it
// messages (Engine::Tell). Connections are actors too (Conn), driving a
// Handler.
#ifndef ACTNET_ACTORS_ACTOR_H_
#define ACTNET_ACTORS_ACTOR_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "actors/actor_ref.h"
#include "actors/envelope.h"

namespace actnet {

class EventLoop;
template <class A>
class Ref;

namespace internal {
class ActorTable;
}  // namespace internal

class Actor {
 public:
  virtual ~Actor() = default;
  // Loop thread only. The envelope's payload is destroyed after return
  // unless the actor moves it out. An actor that does not handle a
  // message's type should pass it to Unhandled (typed actors do).
  virtual void Receive(Envelope& message) = 0;
  // The actor's own ref (valid once registered, invalid once it has died).
  const ActorRef& self() const { return self_; }

  // ---- Messaging, from this actor (its loop thread only; defined in
  // engine.h). Each is the Engine call of the same name with this actor
  // as the sender, asker or watcher.
  // The loop this actor lives on.
  EventLoop& loop() const;
  // A message of type T made from args (dynamic), or a typed one checked
  // against what the target's class receives.
  template <class T, class... Args>
  absl::Status Tell(const ActorRef& to, Args&&... args);
  template <class A, class M>
  absl::Status Tell(const Ref<A>& to, M&& message);
  template <class T, class A, class... Args>
  absl::Status Tell(const Ref<A>& to, Args&&... args);
  // Request/reply (ask.h): `done(StatusOr<M::Reply>)` runs on this loop,
  // once, unless this actor has died first. If Ask returns an error (the
  // target is known dead: NotFound; a full queue...), done is never called.
  template <class M, class Done>
  absl::Status Ask(const ActorRef& to, M request, absl::Duration timeout,
                   Done&& done);
  template <class A, class M, class Done>
  absl::Status Ask(const Ref<A>& to, M request, absl::Duration timeout,
                   Done&& done);
  // Death watch: this actor receives Terminated when `target` dies (at
  // once, reason kNotFound, if it is already dead). Unwatch stops it (a
  // Terminated already sent may still arrive).
  absl::Status Watch(const ActorRef& target);
  absl::Status Unwatch(const ActorRef& target);
  // Counts a message this actor does not handle (LoopStats::unhandled).
  void Unhandled(const Envelope& message) const;
  // Whether this actor is a connection (a Conn).
  bool is_connection() const { return is_connection_; }

 protected:
  Actor() = default;
  struct ConnectionTag {};
  explicit Actor(ConnectionTag) : is_connection_(true) {}

 private:
  friend class internal::ActorTable;  // sets self_ on (un)registration
  ActorRef self_;
  bool is_connection_ = false;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_ACTOR_H_
