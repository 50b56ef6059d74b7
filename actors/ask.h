// Request/reply and death watch, the messages and handles behind Ask and
// Watch (Actor::Ask, Conn::Ask, Engine::Ask...; see engine.h).
//
// A request type names its reply type:   struct Get { using Reply = int; };
// The target receives Request<Get> (or, in a typed actor, On(Get&,
// Promise<int>)) and answers through the promise, at once or later, from
// any thread. The asker's callback runs on the asker's loop with
// StatusOr<int>: the reply; DeadlineExceeded after the timeout;
// NotFound if the target is dead or dies before answering; Aborted if the
// target dropped the promise unanswered. Nothing fires once the asker has
// died.
#ifndef ACTNET_ACTORS_ASK_H_
#define ACTNET_ACTORS_ASK_H_

#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "actors/actor_ref.h"
#include "actors/envelope.h"
#include "actors/handler.h"

namespace actnet {

class Engine;
class EventLoop;

// Sent to a watcher when the actor it watches dies (Actor::Watch).
struct Terminated {
  enum class Reason : uint8_t {
    kClosed,       // a connection closed (`close` says why)
    kDespawned,    // a user actor was despawned (Despawn, Engine::Close)
    kLoopStopped,  // its loop stopped
    kNotFound,     // it was already dead when the watch arrived
  };
  ActorRef ref;
  Reason reason = Reason::kNotFound;
  CloseReason close;  // kClosed only
};

// A type with a nested `Reply` type is a request.
template <class M, class = void>
inline constexpr bool kIsRequest = false;
template <class M>
inline constexpr bool kIsRequest<M, std::void_t<typename M::Reply>> = true;

namespace internal {

// The asking loop's side (defined with the loop, loop thread only):
// BeginAsk records `done` under a new id and arms the timeout; EndAsk
// completes it once (a reply, an error or the timeout), unless the asker
// has died; CancelAsk forgets it without a call.
using AskDone = absl::AnyInvocable<void(absl::Status, void* reply)>;
uint64_t BeginAsk(EventLoop& loop, const ActorRef& asker,
                  absl::Duration timeout, AskDone done);
void EndAsk(EventLoop& loop, uint64_t id, const absl::Status& status,
            void* reply);
void CancelAsk(EventLoop& loop, uint64_t id);
// Routes a task to loop `loop` (Engine::Post's path), past the queue
// limits: for answers owed. Thread-safe.
absl::Status PostTask(Engine& engine, uint32_t loop, Envelope&& task);
// On `ref`'s own loop thread: is it alive? Elsewhere: true (unknowable).
bool AliveHere(const ActorRef& ref);

template <class R>
struct ReplyTask {
  uint64_t id;
  absl::Status status;
  std::optional<R> value;
  void operator()(void* loop) {
    EndAsk(*static_cast<EventLoop*>(loop), id, status,
           value ? static_cast<void*>(&*value) : nullptr);
  }
};

}  // namespace internal

// The right to answer one request, once. Move-only; answer from any
// thread. Destroyed unanswered, it answers for you: NotFound if its
// target has died (the usual way a request dies unanswered), else Aborted.
// A default (empty) promise, as a Tell of a request type gets, answers
// nowhere.
template <class R>
class Promise {
 public:
  Promise() = default;
  Promise(Engine* engine, const ActorRef& asker, const ActorRef& target,
          uint64_t id)
      : engine_(engine), asker_(asker), target_(target), id_(id) {}
  Promise(Promise&& other) noexcept { *this = std::move(other); }
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      Abandon();
      engine_ = std::exchange(other.engine_, nullptr);
      asker_ = other.asker_;
      target_ = other.target_;
      id_ = other.id_;
    }
    return *this;
  }
  Promise(const Promise&) = delete;
  Promise& operator=(const Promise&) = delete;
  ~Promise() { Abandon(); }

  // Whether an answer is still owed to someone.
  bool pending() const { return engine_ != nullptr; }
  // Answers with `value`. Later calls do nothing.
  void Reply(R value) { Send(absl::OkStatus(), std::move(value)); }
  // Answers with an error (`why` must not be OK).
  void Fail(absl::Status why) {
    if (why.ok()) why = absl::InternalError("Promise::Fail with OK");
    Send(std::move(why), std::nullopt);
  }
  // The asker (invalid for an empty promise).
  const ActorRef& asker() const { return asker_; }

 private:
  void Abandon() {
    if (engine_ == nullptr) return;
    Send(internal::AliveHere(target_)
             ? absl::AbortedError("the target dropped the request unanswered")
             : absl::NotFoundError(absl::StrCat(
                   "the target ", target_.ToString(), " died unanswered")),
         std::nullopt);
  }
  void Send(absl::Status status, std::optional<R> value) {
    Engine* engine = std::exchange(engine_, nullptr);
    if (engine == nullptr) return;
    Envelope task;
    task.EmplaceTask(MessageTarget{},
                     internal::ReplyTask<R>{id_, std::move(status),
                                            std::move(value)});
    // A refusal means the asker's loop has stopped: no one to answer.
    (void)internal::PostTask(*engine, asker_.loop, std::move(task));
  }

  Engine* engine_ = nullptr;
  ActorRef asker_;
  ActorRef target_;
  uint64_t id_ = 0;
};

// What an Ask delivers: the request and the promise to answer it with.
template <class M>
struct Request {
  static_assert(kIsRequest<M>, "a request type declares `using Reply = ...;`");
  M message;
  Promise<typename M::Reply> reply;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_ASK_H_
