// Actor: anything that receives messages on one event loop. Receive() runs
// on that loop's thread only, one message at a time, so an actor needs no
// locks for its own state. Spawn one with EventLoop::Spawn (or
// Engine::Spawn); its ActorRef, a plain value, lets any thread send it
// messages (Engine::Tell). Connections are actors too (Conn), driving a
// Handler.
#ifndef ACTNET_ACTORS_ACTOR_H_
#define ACTNET_ACTORS_ACTOR_H_

#include "actors/actor_ref.h"
#include "actors/envelope.h"

namespace actnet {

namespace internal {
class ActorTable;
}  // namespace internal

class Actor {
 public:
  virtual ~Actor() = default;
  // Loop thread only. The envelope's payload is destroyed after return
  // unless the actor moves it out.
  virtual void Receive(Envelope& message) = 0;
  // The actor's own ref (valid once registered, invalid once it has died).
  const ActorRef& self() const { return self_; }

 private:
  friend class internal::ActorTable;  // sets self_ on (un)registration
  ActorRef self_;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_ACTOR_H_
