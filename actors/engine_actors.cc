// Engine, the actor side: typed-message bookkeeping, request/reply and
// death-watch plumbing, the name registry, Spawn and Close from any
// thread. The loop halves of Ask and Watch are in loop_actor.cc.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/check.h"
#include "actors/conn_messages.h"
#include "actors/engine.h"
#include "actors/loop_actor.h"

namespace actnet {
namespace {

internal::LoopActor& AsLoop(EventLoop& loop) {
  return static_cast<internal::LoopActor&>(loop);
}
internal::LoopActor* AsLoop(EventLoop* loop) {
  return static_cast<internal::LoopActor*>(loop);
}

}  // namespace

// ---------------------------------------------------------------------------
// Hooks for the templates of ask.h and typed.h.

namespace internal {

uint64_t BeginAsk(EventLoop& loop, const ActorRef& asker,
                  absl::Duration timeout, AskDone done) {
  return AsLoop(loop).BeginAsk(asker, timeout, std::move(done));
}

void EndAsk(EventLoop& loop, uint64_t id, const absl::Status& status,
            void* reply) {
  AsLoop(loop).EndAsk(id, status, reply);
}

void CancelAsk(EventLoop& loop, uint64_t id) { AsLoop(loop).CancelAsk(id); }

absl::Status PostTask(Engine& engine, uint32_t loop, Envelope&& task) {
  // An answer is owed: past the queue limits too (the asker's own sends,
  // which were bounded, bound the answers).
  return engine.Route(loop, std::move(task), /*bounded=*/false);
}

bool AliveHere(const ActorRef& ref) {
  EventLoop* here = EventLoop::Current();
  if (here == nullptr || here->index() != ref.loop) return true;
  return here->Find(ref) != nullptr;
}

void CountUnhandled(const Envelope& message, const ActorRef& to) {
  if (EventLoop* here = EventLoop::Current()) {
    AsLoop(*here).CountUnhandled(message, to);
  }
}

}  // namespace internal

// ---------------------------------------------------------------------------
// Actor's non-template calls.

EventLoop& Actor::loop() const {
  EventLoop* here = EventLoop::Current();
  ACTNET_CHECK_MSG(here != nullptr && here->index() == self_.loop,
                   "an actor's calls run on its own loop");
  return *here;
}

absl::Status Actor::Watch(const ActorRef& target) {
  return loop().engine().Watch(self(), target);
}

absl::Status Actor::Unwatch(const ActorRef& target) {
  return loop().engine().Unwatch(self(), target);
}

void Actor::Unhandled(const Envelope& message) const {
  internal::CountUnhandled(message, self());
}

// ---------------------------------------------------------------------------
// Death watch.

absl::Status Engine::Watch(const ActorRef& watcher, const ActorRef& target) {
  internal::LoopActor* here = AsLoop(HomeLoopOf(watcher));
  if (here == nullptr) {
    return absl::FailedPreconditionError(
        "Watch: call it on the watcher's loop (from an actor or handler)");
  }
  if (!target.valid()) return absl::InvalidArgumentError("Watch: invalid ActorRef");
  here->NoteWatching(watcher, target);
  if (target.loop == here->index()) {
    here->AddWatch(watcher, target);
    return absl::OkStatus();
  }
  absl::Status s = Post(target.loop, [watcher, target](EventLoop& l) {
    AsLoop(l).AddWatch(watcher, target);
  });
  if (!s.ok()) {
    // The target's loop has stopped: the target is dead.
    here->DropWatching(watcher, target);
    here->AddWatch(watcher, target);  // not found here: Terminated kNotFound
  }
  return absl::OkStatus();
}

absl::Status Engine::Unwatch(const ActorRef& watcher, const ActorRef& target) {
  internal::LoopActor* here = AsLoop(HomeLoopOf(watcher));
  if (here == nullptr) {
    return absl::FailedPreconditionError(
        "Unwatch: call it on the watcher's loop (from an actor or handler)");
  }
  here->DropWatching(watcher, target);
  if (target.loop == here->index()) {
    here->RemoveWatch(watcher, target);
    return absl::OkStatus();
  }
  (void)Post(target.loop, [watcher, target](EventLoop& l) {
    AsLoop(l).RemoveWatch(watcher, target);
  });  // refused: the loop is gone, and its watches with it
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Names.

absl::Status Engine::Register(absl::string_view name, const ActorRef& ref) {
  return RegisterTyped(name, ref, nullptr);
}

absl::Status Engine::RegisterTyped(absl::string_view name, const ActorRef& ref,
                                   const void* type) {
  if (name.empty()) return absl::InvalidArgumentError("Register: empty name");
  if (!ref.valid() || ref.loop >= static_cast<uint32_t>(num_loops())) {
    return absl::InvalidArgumentError(
        absl::StrCat("Register(", name, "): invalid ActorRef"));
  }
  internal::LoopActor* home = AsLoop(HomeLoopOf(ref));
  if (home != nullptr && home->Find(ref) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("Register(", name, "): ", ref.ToString(), " is dead"));
  }
  {
    std::lock_guard<std::mutex> lock(names_mu_);
    auto [it, inserted] = names_.try_emplace(std::string(name), Name{ref, type});
    if (!inserted) {
      if (it->second.ref != ref) {
        return absl::AlreadyExistsError(absl::StrCat(
            "Register(", name, "): taken by ", it->second.ref.ToString()));
      }
      it->second.type = type;
      return absl::OkStatus();
    }
    names_of_[ref].push_back(it->first);
    named_.fetch_add(1, std::memory_order_relaxed);
  }
  if (home == nullptr && started_) {
    // Only the actor's own loop knows whether it is alive: ask it, and
    // drop the name if it is not.
    absl::Status s = Post(ref.loop, [this, ref](EventLoop& l) {
      if (l.Find(ref) == nullptr) ForgetNames(ref);
    });
    if (!s.ok()) ForgetNames(ref);  // its loop has stopped
  }
  return absl::OkStatus();
}

absl::StatusOr<ActorRef> Engine::Whereis(absl::string_view name) const {
  std::lock_guard<std::mutex> lock(names_mu_);
  auto it = names_.find(name);
  if (it == names_.end()) {
    return absl::NotFoundError(absl::StrCat("Whereis(", name, "): no such name"));
  }
  return it->second.ref;
}

absl::StatusOr<ActorRef> Engine::WhereisTyped(absl::string_view name,
                                              const void* type) const {
  std::lock_guard<std::mutex> lock(names_mu_);
  auto it = names_.find(name);
  if (it == names_.end()) {
    return absl::NotFoundError(absl::StrCat("Whereis(", name, "): no such name"));
  }
  if (it->second.type != type) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Whereis(", name, "): registered as another actor class"));
  }
  return it->second.ref;
}

absl::Status Engine::Unregister(absl::string_view name) {
  std::lock_guard<std::mutex> lock(names_mu_);
  auto it = names_.find(name);
  if (it == names_.end()) {
    return absl::NotFoundError(absl::StrCat("Unregister(", name, "): no such name"));
  }
  if (auto of = names_of_.find(it->second.ref); of != names_of_.end()) {
    std::vector<std::string>& list = of->second;
    list.erase(std::remove(list.begin(), list.end(), it->first), list.end());
    if (list.empty()) names_of_.erase(of);
  }
  names_.erase(it);
  named_.fetch_sub(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

void Engine::ForgetNames(const ActorRef& ref) {
  if (named_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<std::mutex> lock(names_mu_);
  auto of = names_of_.find(ref);
  if (of == names_of_.end()) return;
  std::vector<std::string> gone = std::move(of->second);
  names_of_.erase(of);
  for (const std::string& name : gone) {
    names_.erase(name);
    named_.fetch_sub(1, std::memory_order_relaxed);
  }
}

// ---------------------------------------------------------------------------
// Spawn and Close from any thread.

absl::Status Engine::Spawn(
    uint32_t loop, std::unique_ptr<Actor> actor,
    absl::AnyInvocable<void(absl::StatusOr<ActorRef>)> done) {
  if (actor == nullptr || done == nullptr) {
    return absl::InvalidArgumentError("Spawn: needs an actor and a callback");
  }
  if (loop >= static_cast<uint32_t>(num_loops())) {
    return absl::InvalidArgumentError(
        absl::StrCat("Spawn: no loop ", loop, " (engine has ", num_loops(), ")"));
  }
  if (!started_) {
    done(Spawn(loop, std::move(actor)));
    return absl::OkStatus();
  }
  return Post(loop, [actor = std::move(actor),
                     done = std::move(done)](EventLoop& l) mutable {
    internal::LoopActor& here = AsLoop(l);
    if (here.stopping) {
      done(absl::CancelledError("Spawn: the loop is stopping"));
      return;
    }
    done(here.Spawn(std::move(actor)));
  });
}

absl::Status Engine::Close(const ActorRef& actor,
                           absl::AnyInvocable<void(absl::Status)> done) {
  if (done == nullptr) return Close(actor);
  Envelope e = Envelope::Make<internal::CloseMsg>(actor.target(), std::move(done));
  absl::Status s = Send(actor, std::move(e));
  if (!s.ok()) {
    // Refused: the status reports it; the callback must not report again.
    if (auto* msg = e.As<internal::CloseMsg>()) msg->done = nullptr;
  }
  return s;
}

uint64_t Engine::Unhandled() const {
  uint64_t total = 0;
  for (const auto& l : loops_) total += l->Stats().unhandled;
  return total;
}

}  // namespace actnet
