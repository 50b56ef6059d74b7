// EventLoop: one thread, one poller, one mailbox: the actor that owns a
// share of the engine's connections (its child actors), its timers and any
// user actors spawned on it. With more loops than CPUs (co-hosting,
// EngineOptions::cohost_loops) several loops share a thread and its
// poller: the first (the host) waits for all of them, routes each event to
// its loop by the poller token, then lets each finish its iteration.
//
// An iteration: wait for readiness (not at all if work is queued) -> handle
// socket events (writable before readable) -> drain the mailbox (a batch
// from the ring, a batch from foreign threads) and the local queue -> run
// due timers -> flush connections written outside a handler -> flush the
// outboxes to other loops. An idle loop spins briefly on its mailbox, then
// parks in the poller until an event, a timer or a producer's wake-up.
//
// Thread contract: index(), engine(), Current() and IsCurrent() are
// thread-safe; everything else is loop thread only (debug-asserted).
// Other threads reach a loop through Engine (Post, Tell, AsyncWrite...).
#ifndef ACTNET_ACTORS_EVENT_LOOP_H_
#define ACTNET_ACTORS_EVENT_LOOP_H_

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "actors/actor.h"
#include "actors/admission.h"
#include "actors/coalesce.h"
#include "actors/connection.h"
#include "actors/envelope_queue.h"
#include "actors/loop_stats.h"
#include "actors/mailbox.h"
#include "actors/options.h"
#include "actors/timer_queue.h"
#include "io/poller.h"

namespace actnet {

class Engine;
class Listener;

class EventLoop {
 public:
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Thread-safe.
  uint32_t index() const { return index_; }
  Engine& engine() const { return *engine_; }
  // The loop whose thread is calling, or null on any other thread.
  static EventLoop* Current();
  bool IsCurrent() const { return Current() == this; }

  // ---- Loop thread only ----
  // Runs `fn` on this loop after `delay`.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn);
  // Registers a user actor on this loop; the loop owns it until Despawn.
  ActorRef Spawn(std::unique_ptr<Actor> actor);
  void Despawn(const ActorRef& ref);
  // The live actor behind a ref on this loop, or null.
  Actor* Find(const ActorRef& ref) const;
  Conn* FindConn(const ActorRef& ref) const;
  // Connections currently owned by this loop.
  size_t connection_count() const { return connections_; }
  // Monotonic time of the current iteration, in nanoseconds.
  int64_t now_ns() const { return now_ns_; }
  uint64_t dead_letters() const { return actors_.dead_letters(); }
  // Thread-safe: this loop's counters (see loop_stats.h).
  LoopStats stats() const;

 private:
  friend class Engine;
  friend class Conn;
  friend class Listener;

  struct Slot {
    std::unique_ptr<Actor> actor;
    bool is_conn = false;
  };
  // A chunk of gathered output: either a view of the scratch buffer
  // (external != null, zero-copy) or a range of gather_.
  struct Chunk {
    const char* external;
    size_t offset;
    size_t size;
  };

  EventLoop(Engine* engine, uint32_t index, const EngineOptions& options,
            std::unique_ptr<io::Poller> poller,
            std::unique_ptr<Mailbox> mailbox);

  // Engine side (any thread, before Start / after Wait).
  // cpu >= 0 pins the loop's thread. shares_cpu: other loop threads of the
  // engine can only run on the CPU(s) this one runs on, so a coalescing
  // window first yields to them and sleeps only if that leaves a trickle
  // (see WaitForEvents). guests: loops that run on this loop's thread
  // (co-hosting, EngineOptions::cohost_loops), polling this loop's poller;
  // they get no thread of their own.
  void StartThread(int cpu, bool shares_cpu,
                   const std::vector<EventLoop*>& guests = {});
  void Join();
  void AddListener(Listener* listener, int fd);
  void SetOutboxes(std::vector<Mailbox*> destinations);
  Mailbox& mailbox() { return *mailbox_; }
  // Routes from this loop's thread: local queue or an outbox.
  absl::Status SendFromLoop(uint32_t to_loop, Envelope&& message);

  // The thread's body: runs this loop and its guests until all stopped.
  void Run();
  // Registers the loop's own fds (mailbox eventfd, listeners) on the poller.
  void Open();
  // The rest of an iteration after the socket events: messages, timers,
  // deferred flushes, outboxes, the stop check. Returns true once the loop
  // has stopped (its exit steps done).
  bool FinishIteration();
  void Exit();
  // After the thread has been joined: runs what reached the mailbox since
  // the loop stopped (Engine::Wait). Returns the messages run.
  size_t RunLeftovers();
  // The group's poll timeout: 0 if any loop has work, else every loop is
  // parked and this is the nearest deadline (-1: none).
  int ComputeGroupTimeout();
  void UnparkGroup();
  bool GroupHasPending() const;
  int ComputeTimeout();
  // A zero-timeout poll into events[ready..], merged with events[0..ready);
  // returns the number of distinct events.
  int PollMore(absl::Span<io::PollEvent> events, int ready);
  // poller_->Wait, after up to options_.busy_poll of zero-timeout polls
  // or a coalescing window (options_.coalesce) when it would block.
  int WaitForEvents(absl::Span<io::PollEvent> events, int timeout);
  // poller_->Wait, counted.
  int Poll(absl::Span<io::PollEvent> events, int timeout);
  void HandleEvent(uint64_t token, uint32_t events);
  void Dispatch(Envelope& message);
  size_t ProcessMessages();
  void FlushOutboxes();
  void BeginStop();
  bool StopFinished();

  // Connections.
  void Adopt(io::UniqueFd fd, const io::SocketAddress& peer,
             Listener* listener, Admission admission);
  Conn* RegisterConn(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                     const io::SocketAddress& peer, Conn::State state,
                     uint32_t interest, bool counted = true);
  void HandleReadable(Conn& conn, bool peer_hangup);
  // Read returned EOF: asks the handler (OnPeerClosed) whether to close.
  void HandlePeerClosed(Conn& conn);
  void DrainAfterFin(Conn& conn);
  void FinishClose(Conn& conn);
  void Abort(Conn& conn);
  void HandleDatagrams(Conn& conn);
  void SendDatagram(Conn& conn, absl::string_view data);
  // Client side (datagram listeners and dialled connections).
  void OpenDatagramView(Listener* listener, int fd);
  void Connect(const io::Address& address, const io::SocketAddress& remote,
               std::unique_ptr<Handler> handler, DialCallback done,
               absl::Duration timeout);
  void Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
              DialCallback done, bool datagram);
  void FinishConnect(Conn& conn);
  void OpenDialled(Conn& conn);
  void FlushAndNotify(Conn& conn);
  void HandleWritable(Conn& conn);
  // Runs one handler callback for `conn` and then flushes what it wrote.
  void RunHandler(Conn& conn, absl::FunctionRef<Action()> fn);
  void ApplyAction(Conn& conn, Action action);
  void Write(Conn& conn, absl::string_view data);
  void FlushGather(Conn& conn);
  void FlushQueued(Conn& conn);
  void AfterOutput(Conn& conn);
  void MarkDirty(Conn& conn);
  void ScheduleTick(Conn& conn);
  void ScheduleIdleCheck(const ActorRef& ref, int64_t deadline_ns);
  void SetInterest(Conn& conn, uint32_t interest);
  void CloseGracefully(Conn& conn, CloseReason reason);
  void ArmLinger(Conn& conn);
  void CloseNow(Conn& conn, CloseReason reason);
  uint32_t ReadInterest() const;
  bool InScratch(absl::string_view data) const {
    return data.data() >= scratch_.get() &&
           data.data() + data.size() <= scratch_.get() + scratch_size_;
  }

  // Poller tokens: generation << 32 | host slot << kSlotBits | slot.
  static constexpr int kSlotBits = 24;
  static constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
  static constexpr size_t kMaxGroup = 256;  // loops per thread
  uint64_t Token(uint32_t generation, uint32_t slot) const {
    return (static_cast<uint64_t>(generation) << 32) |
           (static_cast<uint64_t>(host_slot_) << kSlotBits) | slot;
  }
  uint64_t Token(const ActorRef& ref) const { return Token(ref.generation, ref.slot); }

  Engine* engine_;
  uint32_t index_;
  EngineOptions options_;
  std::unique_ptr<io::Poller> own_poller_;
  io::Poller* poller_;  // own_poller_, or the host's for a guest
  std::unique_ptr<Mailbox> mailbox_;
  std::vector<Outbox> outboxes_;  // by destination loop (own index unused)
  std::vector<uint32_t> busy_outboxes_;
  EnvelopeQueue local_;
  ActorTable actors_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<Actor>> graveyard_;
  std::vector<Conn*> dirty_;
  std::vector<ActorRef> read_again_;  // edge-triggered reads to resume
  TimerQueue timers_;
  size_t connections_ = 0;
  int64_t now_ns_ = 0;

  struct ListenerBinding {
    Listener* listener;
    int fd;
    bool paused;
  };
  std::vector<ListenerBinding> listeners_;

  std::unique_ptr<char[]> scratch_;
  size_t scratch_size_;           // bytes per stream read
  size_t datagram_buffer_size_;   // bytes per datagram read (>= 64 KiB)
  const int64_t busy_poll_ns_;    // EngineOptions::busy_poll
  CoalescePolicy coalesce_;       // EngineOptions::coalesce
  bool shares_cpu_ = false;       // StartThread's; set before the thread runs
  int64_t yielded_ns_ = 0;        // time given to other loops in a window
  struct Counters {
    internal::LoopCounter iterations, polls, blocks, windows, yields, messages;
  };
  Counters counters_;             // what stats() reports
  uint64_t truncated_datagrams_ = 0;
  uint64_t dropped_datagrams_ = 0;
  std::vector<std::pair<Listener*, int>> datagram_listeners_;
  std::vector<Chunk> gather_chunks_;
  std::string gather_;
  Conn* gather_conn_ = nullptr;

  bool stopping_ = false;
  bool stopped_ = false;
  int64_t stop_deadline_ns_ = 0;
  // Co-hosting: the loops this thread runs (this one first), by host slot;
  // empty for a guest.
  std::vector<EventLoop*> group_;
  uint32_t host_slot_ = 0;  // position in the host's group_
  std::thread thread_;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_EVENT_LOOP_H_
