// Engine: binds addresses, owns the event loops and their threads, and runs
// them until stopped. The entry point of actnet:
//   actnet::Engine engine({.loops = 4});
//   engine.Listen<Echo>("tcp://127.0.0.1:9000");
//   absl::Status s = engine.Run();  // says why if it could not start
// Thread contract: configuration (Listen, SetOn*) before Start; Start, Run
// and Wait from one controlling thread. Stop is thread-safe and
// async-signal-safe. AsyncWrite, Wake, Close, Tell, Send, Post, Dial and the
// introspection calls are thread-safe (from a loop thread they go through
// its outboxes: no lock, no system call).
#ifndef ACTNET_ACTORS_ENGINE_H_
#define ACTNET_ACTORS_ENGINE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "actors/actor_ref.h"
#include "actors/ask.h"
#include "actors/connection.h"
#include "actors/envelope.h"
#include "actors/event_loop.h"
#include "actors/handler.h"
#include "actors/loop_stats.h"
#include "actors/options.h"
#include "actors/typed.h"
#include "io/unique_fd.h"

namespace actnet {

namespace tls {
class TlsContext;
}  // namespace tls

namespace internal {
class ListenSocket;
class LoopActor;
class LoopThread;
}  // namespace internal

struct DialOptions {
  // Give up (DeadlineExceeded) if a stream connect (and, for tls://, its
  // handshake) has not completed.
  absl::Duration timeout = absl::Seconds(5);
  // The loop to own the connection: -1 = the calling loop when called from
  // one, else round-robin.
  int loop = -1;
  // For tls:// URLs: how to verify the server (and a client certificate to
  // show). Dials with equal options share one context and session cache.
  TlsOptions tls;
};

// How Enroll adopts a socket.
struct EnrollOptions {
  // The loop to own the connection (-1: as for Dial).
  int loop = -1;
  // TLS over the adopted socket: kNone keeps it plaintext; kServer waits
  // for the peer's ClientHello (a socket accepted elsewhere); kClient sends
  // one (a socket connected elsewhere). OnOpen and `done` follow the
  // handshake, as for tls:// Listen and Dial.
  enum class Tls { kNone, kServer, kClient };
  Tls tls_role = Tls::kNone;
  // The certificate and key (server), or how to verify the peer (client:
  // by tls.server_name if set, else by the peer's IP address).
  TlsOptions tls;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();  // stops and joins if still running
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- Configuration (before Start) ----
  // Serves `url` (tcp://, tcp4://, tcp6://, tls://, unix://, udp://,
  // udp4://, udp6://) with a handler made by `factory` for each connection
  // (tls:// is TCP with TLS, served with options().tls; handlers see
  // plaintext and OnOpen after the handshake); the
  // factory runs on the connection's loop and must be safe to call from
  // several loops at once. For UDP there is one handler per loop, seeing
  // each datagram as one OnData on a view whose writes go to its sender.
  absl::Status Listen(absl::string_view url, HandlerFactory factory);
  // tls:// with its own certificate and options.
  absl::Status Listen(absl::string_view url, HandlerFactory factory,
                      const TlsOptions& tls);
  // Loads `tls` as a server (Listen) or a client (Dial) would, without
  // either: OK, or InvalidArgument naming the file that is missing, not
  // PEM, or a key that does not match its certificate. For start-up checks.
  static absl::Status CheckTls(const TlsOptions& tls, bool server);
  template <class H, class... Args>
  absl::Status Listen(absl::string_view url, Args... args) {
    static_assert(std::is_base_of_v<Handler, H>);
    return Listen(url, HandlerFactory([args...]() -> std::unique_ptr<Handler> {
                    return std::make_unique<H>(args...);
                  }));
  }
  // Called once every address accepts, on the thread calling Start.
  void SetOnBoot(std::function<void(Engine&)> fn) { on_boot_ = std::move(fn); }
  // Called after every loop has stopped and every OnClose has run.
  void SetOnShutdown(std::function<void(Engine&)> fn) {
    on_shutdown_ = std::move(fn);
  }
  // An engine-wide tick on loop 0: first after `first`, then after whatever
  // the callback returns (a non-positive duration stops it).
  void SetOnTick(std::function<absl::Duration(Engine&)> fn,
                 absl::Duration first = absl::ZeroDuration()) {
    on_tick_ = std::move(fn);
    first_tick_ = first;
  }

  // ---- Running ----
  // Binds every address and starts the loops; returns once all accept.
  absl::Status Start();
  // Start, then Wait.
  absl::Status Run();
  // Blocks until the engine has stopped (after Stop or Action::kShutdown).
  void Wait();
  // Asks the engine to stop gracefully. Thread-safe, async-signal-safe.
  void Stop();
  bool stopping() const {
    return stop_requested_.load(std::memory_order_acquire);
  }

  // ---- Thread-safe operations on actors ----
  // Writes to a connection; `done` (optional) runs on the connection's loop
  // once the bytes are in the kernel, or with an error if it closed first.
  // Writes from one thread arrive in the order they were made. If this
  // returns an error (a full queue), `done` is never called.
  absl::Status AsyncWrite(const ActorRef& conn, std::string data,
                          WriteCallback done = nullptr);
  // Calls the connection's OnData again (e.g. to process buffered bytes).
  absl::Status Wake(const ActorRef& conn);
  // Closes a connection after flushing its queued output.
  absl::Status Close(const ActorRef& conn);
  // Sends a message of type T to an actor (a Conn's handler gets it in
  // OnMessage; a user actor in Receive).
  template <class T, class... Args>
  absl::Status Tell(const ActorRef& to, Args&&... args) {
    if constexpr (kFitsInline<T>) {
      // Built where it travels: in the target loop's lane when it can be.
      return SendBuilt(to, [&](Envelope& e) {
        e.Emplace<T>(to.target(), std::forward<Args>(args)...);
      });
    } else {
      return Send(to,
                  Envelope::Make<T>(to.target(), std::forward<Args>(args)...));
    }
  }
  absl::Status Send(const ActorRef& to, Envelope&& message);
  // Send of the message build(Envelope&) makes in an empty envelope: in
  // place in the lane to the target's loop when called on another loop of
  // this engine and that lane has room, else in an envelope passed to
  // Send. build is called exactly once.
  absl::Status SendBuilt(const ActorRef& to,
                         absl::FunctionRef<void(Envelope&)> build);
  // Runs fn(EventLoop&) on loop `loop`. Like every send from a thread that
  // is not a loop, refused with FailedPrecondition once that loop has
  // stopped (fn is then destroyed unrun); queued before that, it runs.
  template <class F>
  absl::Status Post(uint32_t loop, F&& fn) {
    Envelope e;
    e.EmplaceTask(MessageTarget{},
                  LoopTask<std::decay_t<F>>{std::forward<F>(fn)});
    return Route(loop, std::move(e));
  }

  // ---- Typed messages, request/reply, watch (see typed.h, ask.h) ----
  // Tell through a typed ref: a message the class does not receive does
  // not compile. Thread-safe.
  template <class A, class M>
  absl::Status Tell(const Ref<A>& to, M&& message) {
    using T = std::decay_t<M>;
    static_assert(kReceives<A, T>,
                  "Tell: the target's class does not receive this type");
    return Tell<T>(to.get(), std::forward<M>(message));
  }
  template <class T, class A, class... Args>
  absl::Status Tell(const Ref<A>& to, Args&&... args) {
    static_assert(kReceives<A, T>,
                  "Tell: the target's class does not receive this type");
    return Tell<T>(to.get(), std::forward<Args>(args)...);
  }
  // Sends `request` to `to` for `asker` (an actor or connection on the
  // calling loop: loop thread only); `done(absl::StatusOr<M::Reply>)` runs
  // on that loop once (for a connection, as a handler callback: what it
  // writes is flushed after it): the reply, DeadlineExceeded after
  // `timeout` (InfiniteDuration: never),
  // NotFound if `to` dies unanswered, Aborted if it drops the request; not
  // at all if `asker` has died by then. An error returned here (NotFound:
  // `to` is on this loop and dead; ResourceExhausted...) means `done` is
  // never called.
  template <class M, class Done>
  absl::Status Ask(const ActorRef& asker, const ActorRef& to, M request,
                   absl::Duration timeout, Done&& done);
  template <class A, class M, class Done>
  absl::Status Ask(const ActorRef& asker, const Ref<A>& to, M request,
                   absl::Duration timeout, Done&& done) {
    static_assert(kReceives<A, M>,
                  "Ask: the target's class does not receive this request");
    return Ask(asker, to.get(), std::move(request), timeout,
               std::forward<Done>(done));
  }
  // `watcher` (on the calling loop: loop thread only) receives a
  // Terminated message when `target` dies, or at once (kNotFound) if it is
  // dead already. A watcher that dies stops watching. Unwatch: no more
  // Terminated for this pair (one already sent may still arrive).
  absl::Status Watch(const ActorRef& watcher, const ActorRef& target);
  absl::Status Unwatch(const ActorRef& watcher, const ActorRef& target);

  // ---- Names (thread-safe) ----
  // Binds `name` to `ref` until Unregister or until the actor dies.
  // AlreadyExists if the name is bound to another live actor; NotFound if
  // `ref` is on the calling loop and dead (elsewhere a dead ref is found
  // out on its loop and the entry dropped).
  absl::Status Register(absl::string_view name, const ActorRef& ref);
  template <class A>
  absl::Status Register(absl::string_view name, const Ref<A>& ref) {
    return RegisterTyped(name, ref.get(), TypeTag<A>());
  }
  absl::StatusOr<ActorRef> Whereis(absl::string_view name) const;
  // FailedPrecondition if the name was registered with another class (or
  // untyped).
  template <class A>
  absl::StatusOr<Ref<A>> Whereis(absl::string_view name) const {
    absl::StatusOr<ActorRef> r = WhereisTyped(name, TypeTag<A>());
    if (!r.ok()) return r.status();
    return Ref<A>(*r);
  }
  absl::Status Unregister(absl::string_view name);

  // ---- Actors from any thread ----
  // Spawns `actor` on loop `loop` from any thread; `done` runs on that loop
  // with its ref (or is never called if this returns an error: the loop
  // has stopped, no such loop). Before Start it registers at once.
  absl::Status Spawn(uint32_t loop, std::unique_ptr<Actor> actor,
                     absl::AnyInvocable<void(absl::StatusOr<ActorRef>)> done);
  // Closes a connection (after flushing) or despawns a user actor; `done`
  // runs on its loop once it is gone: OK, or NotFound if it was already
  // dead. An error returned here means `done` is never called.
  absl::Status Close(const ActorRef& actor,
                     absl::AnyInvocable<void(absl::Status)> done);

  // ---- Client side (thread-safe, after Start) ----
  // Connects to `url` (tcp://, tcp4://, tcp6://, unix://, udp://...)
  // without blocking. The new connection is a connection actor like any
  // accepted one, driven by `handler`; `done` runs on its loop with its
  // ref after OnOpen, or with the error (refused, unreachable, timed out;
  // Cancelled if the engine stops first). If Dial itself returns an error
  // (bad URL, not started, the loop already stopped), `done` is never
  // called. UDP "connections" are connected datagram sockets, open at once.
  absl::Status Dial(absl::string_view url, std::unique_ptr<Handler> handler,
                    DialCallback done, DialOptions options = {});
  // Dial and wait for the outcome. Not from a loop thread (it would block
  // the loop that has to complete it).
  absl::StatusOr<ActorRef> DialAndWait(absl::string_view url,
                                       std::unique_ptr<Handler> handler,
                                       DialOptions options = {});
  // Adopts an already-connected socket (stream or datagram; the engine
  // makes it non-blocking) onto loop `loop` (-1: as for Dial). `done` runs
  // on its loop after OnOpen, or with why it could not open (for TLS, a
  // failed handshake; Cancelled if the engine stops first). If Enroll
  // itself returns an error (bad fd or options, not started), `done` is
  // never called and the fd is closed.
  absl::Status Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                      DialCallback done, int loop = -1) {
    EnrollOptions options;
    options.loop = loop;
    return Enroll(std::move(fd), std::move(handler), std::move(done),
                  std::move(options));
  }
  absl::Status Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                      DialCallback done, EnrollOptions options);

  // Registers a user actor on `loop`: before Start from the controlling
  // thread, or afterwards from that loop's own thread.
  ActorRef Spawn(uint32_t loop, std::unique_ptr<Actor> actor);

  // ---- Introspection (thread-safe) ----
  int64_t CountConnections() const;
  // Known from construction (EngineOptions::loops = 0 resolved to the CPUs
  // this process may run on).
  int num_loops() const { return options_.loops; }
  // Loop i (after Start, or after a Spawn made the loops); only its own
  // thread may use its loop-only methods.
  EventLoop& loop(int i);
  // The addresses actually bound (port 0 resolved), in Listen order.
  std::vector<std::string> ListenAddresses() const;
  uint64_t DeadLetters() const;
  // Messages that reached an actor which did not handle their type.
  uint64_t Unhandled() const;
  // Every loop's counters since Start (empty before the loops exist): polls,
  // blocks, coalescing windows, yields, mailbox messages and wake-ups...
  // See loop_stats.h.
  std::vector<LoopStats> Stats() const;
  // After Start, options().backend is the backend that runs (never kAuto).
  const EngineOptions& options() const { return options_; }

 private:
  template <class F>
  struct LoopTask {
    F fn;
    void operator()(void* context) { fn(*static_cast<EventLoop*>(context)); }
  };

  absl::Status Route(uint32_t loop, Envelope&& message, bool bounded = true);
  // The calling thread's loop if it belongs to this engine, else null.
  EventLoop* CallingLoop() const {
    EventLoop* here = EventLoop::Current();
    return here != nullptr && &here->engine() == this ? here : nullptr;
  }
  // The calling thread's loop if it belongs to this engine and is `ref`'s
  // (the loop where `ref`'s liveness is known now), else null.
  EventLoop* HomeLoopOf(const ActorRef& ref) const {
    EventLoop* here = CallingLoop();
    return here != nullptr && here->index() == ref.loop ? here : nullptr;
  }
  friend absl::Status internal::PostTask(Engine&, uint32_t, Envelope&&);
  friend class internal::LoopActor;  // forgets the names of dead actors

  template <class A>
  static const void* TypeTag() {
    static const char tag = 0;
    return &tag;
  }
  absl::Status RegisterTyped(absl::string_view name, const ActorRef& ref,
                             const void* type);
  absl::StatusOr<ActorRef> WhereisTyped(absl::string_view name,
                                        const void* type) const;
  // An actor died: its names go. Loop threads; cheap when none is named.
  void ForgetNames(const ActorRef& ref);
  absl::Status AddListen(absl::string_view url, HandlerFactory factory,
                         const TlsOptions* tls);
  // The context for dials (or enrolments) with these options in this
  // role, made once.
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> SharedTls(
      const TlsOptions& options, bool server);
  uint32_t PickDialLoop(int requested);
  absl::Status CreateLoops();
  absl::Status StartThreads();
  void ScheduleTick(EventLoop& loop, absl::Duration delay);
  void OnLoopStopped();

  EngineOptions options_;
  std::vector<std::unique_ptr<internal::ListenSocket>> listen_sockets_;
  std::mutex tls_mu_;
  std::map<std::string, std::shared_ptr<tls::TlsContext>> shared_tls_;
  std::vector<std::unique_ptr<internal::LoopActor>> loops_;
  std::vector<std::unique_ptr<internal::LoopThread>> threads_;
  std::unique_ptr<std::atomic<int64_t>[]> loads_;
  std::function<void(Engine&)> on_boot_;
  std::function<void(Engine&)> on_shutdown_;
  std::function<absl::Duration(Engine&)> on_tick_;
  absl::Duration first_tick_;
  bool started_ = false;
  bool joined_ = false;
  // Memory ordering: Stop() stores seq_cst, then loads each loop's
  // `sleeping` (the mailbox's wake check); a loop stores `sleeping` then
  // loads this flag, so one of them always sees the other.
  std::atomic<bool> stop_requested_{false};
  std::atomic<uint32_t> next_dial_loop_{0};
  struct Name {
    ActorRef ref;
    const void* type = nullptr;  // TypeTag of a typed registration
  };
  mutable std::mutex names_mu_;
  absl::flat_hash_map<std::string, Name> names_;  // guarded by names_mu_
  // The names of each named actor, so its death costs a lookup, not a scan
  // of every name. Guarded by names_mu_.
  absl::flat_hash_map<ActorRef, std::vector<std::string>> names_of_;
  // Memory ordering: relaxed; a hint that skips the lock when no name is
  // registered (a stale nonzero only costs a lock).
  std::atomic<size_t> named_{0};
  // Places taken under max_connections (see admission.h).
  std::atomic<int64_t> admitted_{0};
};

template <class M, class Done>
absl::Status Engine::Ask(const ActorRef& asker, const ActorRef& to, M request,
                         absl::Duration timeout, Done&& done) {
  static_assert(kIsRequest<M>, "Ask: the request type declares `using Reply`");
  using R = typename M::Reply;
  EventLoop* here = HomeLoopOf(asker);
  if (here == nullptr) {
    return absl::FailedPreconditionError(
        "Ask: call it on the asker's loop (from an actor or handler)");
  }
  if (!to.valid()) return absl::InvalidArgumentError("Ask: invalid ActorRef");
  if (to.loop == here->index() && here->Find(to) == nullptr) {
    return absl::NotFoundError(absl::StrCat("Ask: ", to.ToString(), " is dead"));
  }
  static_assert(std::is_invocable_v<std::decay_t<Done>&, absl::StatusOr<R>>,
                "Ask: done must take absl::StatusOr<Request::Reply>");
  const uint64_t id = internal::BeginAsk(
      *here, asker, timeout,
      [cb = std::decay_t<Done>(std::forward<Done>(done))](
          absl::Status status, void* reply) mutable {
        if (status.ok()) {
          cb(absl::StatusOr<R>(std::move(*static_cast<R*>(reply))));
        } else {
          cb(absl::StatusOr<R>(std::move(status)));
        }
      });
  Envelope e = Envelope::Make<Request<M>>(
      to.target(), Request<M>{std::move(request),
                              Promise<R>(this, asker, to, id)});
  absl::Status s = Send(to, std::move(e));
  if (!s.ok()) {
    // Refused: the status reports it; the promise must not answer too.
    if (auto* r = e.As<Request<M>>()) r->reply = Promise<R>();
    internal::CancelAsk(*here, id);
  }
  return s;
}

// Actor's messaging calls: the Engine's, with this actor as the sender.
template <class T, class... Args>
absl::Status Actor::Tell(const ActorRef& to, Args&&... args) {
  return loop().engine().Tell<T>(to, std::forward<Args>(args)...);
}
template <class A, class M>
absl::Status Actor::Tell(const Ref<A>& to, M&& message) {
  return loop().engine().Tell(to, std::forward<M>(message));
}
template <class T, class A, class... Args>
absl::Status Actor::Tell(const Ref<A>& to, Args&&... args) {
  return loop().engine().Tell<T>(to, std::forward<Args>(args)...);
}
template <class M, class Done>
absl::Status Actor::Ask(const ActorRef& to, M request, absl::Duration timeout,
                        Done&& done) {
  return loop().engine().Ask(self(), to, std::move(request), timeout,
                             std::forward<Done>(done));
}
template <class A, class M, class Done>
absl::Status Actor::Ask(const Ref<A>& to, M request, absl::Duration timeout,
                        Done&& done) {
  return loop().engine().Ask(self(), to, std::move(request), timeout,
                             std::forward<Done>(done));
}

}  // namespace actnet

#endif  // ACTNET_ACTORS_ENGINE_H_
