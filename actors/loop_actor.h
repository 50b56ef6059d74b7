// LoopActor: the event loop as an actor, behind the public EventLoop. It
// owns its actor table (connections, listeners, user actors), its mailbox
// and outboxes, its local queue (messages between its own actors), its
// timers and its stop sequence. It owns no thread and does no waiting: a
// LoopThread hands it the backend's completions, then FinishIteration runs
// the rest of the iteration (messages, timers, deferred flushes, outboxes,
// the stop check).
// Thread contract: loop thread only, except where a method says
// otherwise; the engine configures it before its thread starts.
#ifndef ACTNET_ACTORS_LOOP_ACTOR_H_
#define ACTNET_ACTORS_LOOP_ACTOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "actors/actor_table.h"
#include "actors/admission.h"
#include "actors/ask.h"
#include "actors/conn_context.h"
#include "actors/connection.h"
#include "actors/envelope_queue.h"
#include "actors/event_loop.h"
#include "actors/loop_counter.h"
#include "actors/mailbox.h"
#include "actors/options.h"
#include "actors/timer_queue.h"
#include "io/address.h"
#include "io/unique_fd.h"

namespace actnet::tls {
class TlsContext;
}  // namespace actnet::tls

namespace actnet::internal {

class ConnCore;
class Listener;
class ListenSocket;

// What a loop gets from its engine, and no more.
struct LoopLink {
  Engine* engine = nullptr;  // for EventLoop::engine() only
  // Memory ordering: see Engine::stop_requested_.
  const std::atomic<bool>* stop_requested = nullptr;
  // Open connections, by loop (balancers read them all; a loop writes its
  // own). Memory ordering: relaxed, statistics.
  absl::Span<std::atomic<int64_t>> loads;
  // Places taken under max_connections (admission.h).
  std::atomic<int64_t>* admitted = nullptr;
  // Action::kShutdown: asks the engine to stop. Thread-safe.
  absl::AnyInvocable<void()> request_stop;
  // Called on the loop's thread once it has stopped.
  absl::AnyInvocable<void()> on_stopped;
};

// The waiting side's counters, kept by the LoopThread that runs the loop
// (reported by the thread's first loop).
struct WaitCounters {
  LoopCounter polls, blocks, windows, yields;
};

// Makes `loop` the one EventLoop::Current() returns on this thread.
void SetCurrentLoop(EventLoop* loop);

class LoopActor final : public EventLoop, public ConnContext {
 public:
  LoopActor(uint32_t index, const EngineOptions& options, LoopLink link,
            std::unique_ptr<Mailbox> mailbox);
  ~LoopActor();

  // ---- Set-up, before the loop's thread starts (controlling thread).
  void SetOutboxes(const std::vector<Mailbox*>& destinations);
  // Serves `socket` on this loop: accepts on `fd` (a stream listener) or
  // opens a datagram view of it.
  void AddListenSocket(ListenSocket* socket, int fd);
  // Binds the loop to its thread's backend; `owner` tells its completions
  // apart from those of loops sharing the thread. `wait` is the thread's
  // counters (null for all but its first loop).
  void Attach(io::Backend* backend, uint32_t owner, const WaitCounters* wait);
  void set_running(bool running) { running_ = running; }
  Mailbox& mailbox() { return *mailbox_; }

  // ---- The LoopThread's side.
  // Registers the loop's fds (mailbox wake-up, listeners) with the backend.
  void Open();
  void BeginIteration(int64_t now_ns) { clock_ns = now_ns; }
  // The rest of an iteration after the backend's completions. Returns true
  // once the loop has stopped (its exit steps done).
  bool FinishIteration();
  bool stopped() const { return stopped_; }
  // 0 if there is work, else parks the mailbox and returns the time to the
  // next deadline in ms (-1: none).
  int ParkTimeout();
  void Unpark() { mailbox_->Unpark(); }
  bool HasPendingMessages() const { return mailbox_->HasPending(); }
  // After the thread has been joined (Engine::Wait): runs what reached the
  // mailbox since the loop stopped. Returns the messages run.
  size_t RunLeftovers();

  // ---- Messages.
  // From this loop's thread: the local queue or an outbox.
  // `bounded` false: past the outbox limit too (see Mailbox::PushForeign).
  absl::Status SendFromLoop(uint32_t to_loop, Envelope&& message,
                            bool bounded = true);
  // From this loop's thread, to another loop (to_loop != index()): builds
  // the message in place in that loop's lane when its outbox holds nothing
  // and the lane has room; false (build not called) otherwise.
  bool TryBuildFromLoop(uint32_t to_loop,
                        absl::FunctionRef<void(Envelope&)> build);
  // Thread-safe: from a thread that is not a loop of this engine.
  absl::Status PushForeign(Envelope&& message, bool bounded = true) {
    return mailbox_->PushForeign(std::move(message), bounded);
  }

  // ---- Connections (loop thread).
  // An accepted socket from `from`'s listener; closed if the loop stops.
  void Adopt(io::UniqueFd fd, const io::SocketAddress& peer,
             const ListenSocket* from, Admission admission);
  // `tls` (tls://): the client context; `destination` the "host:port" its
  // sessions are kept under and whose name is verified.
  void Dial(const io::Address& address, const io::SocketAddress& remote,
            std::unique_ptr<Handler> handler, DialCallback done,
            absl::Duration timeout,
            std::shared_ptr<tls::TlsContext> tls = nullptr,
            std::string destination = "");
  // `tls` (streams only): the handshake to run first, in its role.
  void Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
              DialCallback done, bool datagram,
              std::shared_ptr<tls::TlsContext> tls);
  // The engine's listeners count here (thread-safe to read).
  LoopCounter& rejected() { return rejected_; }
  LoopCounter& accept_pauses() { return accept_pauses_; }
  const LoopLink& link() const { return link_; }

  // ---- EventLoop, and ConnContext.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) override;
  ActorRef Spawn(std::unique_ptr<Actor> actor);
  void Despawn(const ActorRef& ref);
  Actor* Find(const ActorRef& ref) const override;
  size_t connection_count() const { return connections_; }
  uint64_t dead_letters() const { return actors_.dead_letters(); }
  LoopStats Stats() const;  // thread-safe
  void Release(Conn& conn, bool counted, const CloseReason& why) override;
  void RequestStop() override { link_.request_stop(); }
  bool OnLoopThread() const override;
  void ScheduleAt(int64_t deadline_ns, absl::AnyInvocable<void()> fn) {
    timers_.Schedule(deadline_ns, std::move(fn));
  }

  // ---- Request/reply, the asking side (ask.h): `done` waits under an id
  // until EndAsk, the timeout, or CancelAsk; it is not called if `asker`
  // has died by then.
  uint64_t BeginAsk(const ActorRef& asker, absl::Duration timeout,
                    AskDone done);
  void EndAsk(uint64_t id, const absl::Status& status, void* reply);
  void CancelAsk(uint64_t id) { (void)TakeAsk(id); }

  // ---- Death watch. On the target's loop: AddWatch (or Terminated
  // kNotFound at once if it is dead) and RemoveWatch. On the watcher's
  // loop: what it watches, so that its death withdraws its watches.
  void AddWatch(const ActorRef& watcher, const ActorRef& target);
  void RemoveWatch(const ActorRef& watcher, const ActorRef& target);
  void NoteWatching(const ActorRef& watcher, const ActorRef& target);
  void DropWatching(const ActorRef& watcher, const ActorRef& target);

  // A message no actor handled (typed.h): counted, logged if asked.
  void CountUnhandled(const Envelope& message, const ActorRef& to) override;

 private:
  template <class C, class... Args>
  C* AddConn(bool counted, Args&&... args);
  void Dispatch(Envelope& message);
  // Every death passes here: watchers hear Terminated, the dead actor's
  // own watches are withdrawn, its names go.
  void OnActorDied(const ActorRef& ref, const Terminated& how);
  // Unregisters a live actor (keeping it until the iteration ends) and
  // reports its death.
  // `ref` by value: it may be the dying actor's own self(), which
  // unregistering clears.
  void Bury(ActorRef ref, const Terminated& how);
  void SendTerminated(const ActorRef& watcher, const Terminated& how);
  size_t ProcessMessages();
  void FlushOutboxes();
  // After a send into outboxes_[to_loop] (which was empty before it if
  // was_empty): notes it for the end-of-turn flush, flushes a long backlog.
  void AfterOutboxSend(uint32_t to_loop, bool was_empty);
  void OpenListenSocket(ListenSocket* socket, int fd);
  void BeginStop();
  bool StopFinished();
  void Exit();

  EngineOptions options_;
  LoopLink link_;
  std::unique_ptr<Mailbox> mailbox_;
  std::vector<Outbox> outboxes_;  // by destination loop (own index unused)
  std::vector<uint32_t> busy_outboxes_;
  EnvelopeQueue local_;
  ActorTable actors_;
  std::vector<std::unique_ptr<Actor>> graveyard_;  // died this iteration
  TimerQueue timers_;
  size_t connections_ = 0;
  std::vector<std::pair<ListenSocket*, int>> listen_sockets_;
  std::vector<Listener*> listeners_;  // owned by actors_
  const WaitCounters* wait_ = nullptr;
  LoopCounter iterations_, messages_, rejected_, accept_pauses_, unhandled_;
  int64_t last_unhandled_log_ns_ = 0;
  // Pending asks: a slab; an id is (generation << 32 | index), so a stale
  // id (answered, timed out, cancelled) finds a newer generation.
  struct PendingAsk {
    ActorRef asker;
    AskDone done;
    uint32_t generation = 0;
  };
  // The pending ask `id` (its slot freed), or null done if none.
  PendingAsk TakeAsk(uint64_t id);
  std::vector<PendingAsk> asks_;
  std::vector<uint32_t> free_asks_;
  // Target (on this loop) -> its watchers; watcher (on this loop) -> the
  // targets it watches.
  absl::flat_hash_map<ActorRef, std::vector<ActorRef>> watchers_;
  absl::flat_hash_map<ActorRef, std::vector<ActorRef>> watching_;
  bool running_ = false;
  bool stopped_ = false;
  int64_t stop_deadline_ns_ = 0;
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_LOOP_ACTOR_H_
