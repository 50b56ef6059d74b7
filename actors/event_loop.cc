// EventLoop's public calls, answered by the LoopActor behind it.
#include "actors/event_loop.h"

#include "actors/check.h"
#include "actors/loop_actor.h"

namespace actnet {
namespace {

thread_local EventLoop* tls_current_loop = nullptr;

internal::LoopActor& Impl(EventLoop* loop) {
  return *static_cast<internal::LoopActor*>(loop);
}
const internal::LoopActor& Impl(const EventLoop* loop) {
  return *static_cast<const internal::LoopActor*>(loop);
}

}  // namespace

namespace internal {
void SetCurrentLoop(EventLoop* loop) { tls_current_loop = loop; }
}  // namespace internal

EventLoop* EventLoop::Current() { return tls_current_loop; }

LoopStats EventLoop::stats() const { return Impl(this).Stats(); }

void EventLoop::RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  Impl(this).RunAfter(delay, std::move(fn));
}

ActorRef EventLoop::Spawn(std::unique_ptr<Actor> actor) {
  ACTNET_DCHECK(Impl(this).OnLoopThread());
  return Impl(this).Spawn(std::move(actor));
}

void EventLoop::Despawn(const ActorRef& ref) {
  ACTNET_DCHECK(Impl(this).OnLoopThread());
  Impl(this).Despawn(ref);
}

Actor* EventLoop::Find(const ActorRef& ref) const {
  return Impl(this).Find(ref);
}

Conn* EventLoop::FindConn(const ActorRef& ref) const {
  Actor* actor = Find(ref);
  return actor != nullptr && actor->is_connection() ? static_cast<Conn*>(actor)
                                                    : nullptr;
}

size_t EventLoop::connection_count() const {
  return Impl(this).connection_count();
}

int64_t EventLoop::now_ns() const { return Impl(this).clock_ns; }

uint64_t EventLoop::dead_letters() const { return Impl(this).dead_letters(); }

}  // namespace actnet
