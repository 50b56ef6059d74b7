// LoopActor: the iteration's message and timer steps, the actor table and
// the stop sequence. Connections and listeners are set up in
// loop_actor_conns.cc.
#include "actors/loop_actor.h"

#include <algorithm>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "actors/check.h"
#include "actors/conn_core.h"
#include "actors/conn_messages.h"
#include "actors/engine.h"
#include "actors/listener.h"
#include "actors/stream_conn.h"

namespace actnet::internal {
namespace {

// Every Conn is a ConnCore (StreamConn, DatagramConn).
ConnCore* AsConn(Actor* actor) {
  return actor != nullptr && actor->is_connection()
             ? static_cast<ConnCore*>(static_cast<Conn*>(actor))
             : nullptr;
}

}  // namespace

LoopActor::LoopActor(uint32_t index, const EngineOptions& options,
                     LoopLink link, std::unique_ptr<Mailbox> mailbox)
    : EventLoop(link.engine, index),
      options_(options),
      link_(std::move(link)),
      mailbox_(std::move(mailbox)),
      actors_(index) {
  ConnContext::loop = this;
  ConnContext::options = &options_;
  clock_ns = MonotonicNs();
}

LoopActor::~LoopActor() {
  // Messages still queued (local queue, outbox backlogs) die with their
  // payloads here; other loops' mailboxes may already be gone, so nothing
  // is flushed into them.
  local_.Clear();
}

void LoopActor::SetOutboxes(const std::vector<Mailbox*>& destinations) {
  outboxes_.clear();
  outboxes_.reserve(destinations.size());
  for (Mailbox* m : destinations)
    outboxes_.emplace_back(m, index(), options_.outbox_limit);
}

void LoopActor::AddListenSocket(ListenSocket* socket, int fd) {
  listen_sockets_.emplace_back(socket, fd);
}

void LoopActor::Attach(io::Backend* b, uint32_t tag, const WaitCounters* wait) {
  backend = b;
  owner = tag;
  wait_ = wait;
}

bool LoopActor::OnLoopThread() const { return IsCurrent() || !running_; }

// ---------------------------------------------------------------------------
// The iteration.

void LoopActor::Open() {
  clock_ns = MonotonicNs();
  absl::Status s = backend->AddWaker(mailbox_->wake_fd());
  ACTNET_CHECK_MSG(s.ok(), "registering the mailbox eventfd");
  for (auto& [socket, fd] : listen_sockets_) OpenListenSocket(socket, fd);
}

bool LoopActor::FinishIteration() {
  iterations_.Add();
  ProcessMessages();
  // What a timer sent goes out this turn; without a timer, the mailbox was
  // just drained and what arrives later wakes or un-parks the loop.
  if (timers_.RunDue(clock_ns) != 0) ProcessMessages();
  while (!flush_list.empty()) {
    StreamConn* c = flush_list.back();
    flush_list.pop_back();
    c->FlushDeferred();
  }
  FlushOutboxes();
  graveyard_.clear();
  if (!stopping && link_.stop_requested->load(std::memory_order_acquire)) {
    BeginStop();
  }
  if (!stopping || !StopFinished()) return false;
  Exit();
  return true;
}

int LoopActor::ParkTimeout() {
  if (!local_.empty() || !busy_outboxes_.empty() || mailbox_->HasPending()) {
    return 0;
  }
  for (int i = 0; i < options_.idle_spins; ++i) {
    if (mailbox_->HasPending()) return 0;
  }
  if (!mailbox_->TryPark()) return 0;
  // Memory ordering: seq_cst load after TryPark's seq_cst store of
  // `sleeping`; pairs with Engine::Stop (see engine.h).
  if (link_.stop_requested->load(std::memory_order_seq_cst) != stopping) {
    mailbox_->Unpark();
    return 0;
  }
  int64_t deadline = timers_.empty() ? -1 : timers_.NextDeadline();
  if (stopping && (deadline < 0 || stop_deadline_ns_ < deadline)) {
    deadline = stop_deadline_ns_;
  }
  if (deadline < 0) return -1;
  const int64_t wait_ns = deadline - MonotonicNs();
  if (wait_ns <= 0) {
    mailbox_->Unpark();
    return 0;
  }
  // Round up so a timer is never woken for early.
  return static_cast<int>(
      std::min<int64_t>((wait_ns + 999'999) / 1'000'000, 1'000'000));
}

void LoopActor::Dispatch(Envelope& message) {
  if (message.is_task()) {
    message.RunTask(static_cast<EventLoop*>(this));
    return;
  }
  if (!watching_.empty()) {
    if (const Terminated* t = message.As<Terminated>()) {
      // The watch has fired: the watcher forgets it.
      const MessageTarget to = message.target();
      DropWatching(ActorRef{index(), to.slot, to.generation}, t->ref);
    }
  }
  if (auto* close = message.As<CloseMsg>()) {
    // Engine::Close of a user actor despawns it; a connection closes
    // itself (Conn::Receive).
    Actor* actor = actors_.Resolve(message.target());
    if (actor != nullptr && AsConn(actor) == nullptr) {
      auto done = std::exchange(close->done, nullptr);
      Despawn(actor->self());
      if (done) done(absl::OkStatus());
      return;
    }
  }
  actors_.Deliver(message);
}

size_t LoopActor::ProcessMessages() {
  size_t n = mailbox_->Drain([this](Envelope& e) { Dispatch(e); });
  if (n != 0) messages_.Add(n);
  // Local messages may beget local messages; a bound keeps I/O flowing.
  size_t budget = options_.mailbox_batch;
  while (!local_.empty() && budget-- > 0) {
    Envelope e = local_.TakeFront();
    Dispatch(e);
    ++n;
  }
  return n;
}

absl::Status LoopActor::SendFromLoop(uint32_t to_loop, Envelope&& message,
                                     bool bounded) {
  if (to_loop == index()) {
    local_.Push(std::move(message));
    return absl::OkStatus();
  }
  Outbox& out = outboxes_[to_loop];
  const bool was_empty = out.empty();
  absl::Status s = out.Push(std::move(message), bounded);
  if (!s.ok()) return s;
  AfterOutboxSend(to_loop, was_empty);
  return absl::OkStatus();
}

bool LoopActor::TryBuildFromLoop(uint32_t to_loop,
                                 absl::FunctionRef<void(Envelope&)> build) {
  const bool was_empty = outboxes_[to_loop].empty();
  if (!outboxes_[to_loop].TryBuild(build)) return false;
  AfterOutboxSend(to_loop, was_empty);
  return true;
}

void LoopActor::AfterOutboxSend(uint32_t to_loop, bool was_empty) {
  if (was_empty) busy_outboxes_.push_back(to_loop);
  Outbox& out = outboxes_[to_loop];
  if (out.size() >= Outbox::kFlushEvery) out.Flush();
}

void LoopActor::FlushOutboxes() {
  size_t kept = 0;
  for (size_t i = 0; i < busy_outboxes_.size(); ++i) {
    const uint32_t to = busy_outboxes_[i];
    if (!outboxes_[to].Flush()) busy_outboxes_[kept++] = to;
  }
  busy_outboxes_.resize(kept);
}

size_t LoopActor::RunLeftovers() {
  EventLoop* const outer = EventLoop::Current();
  SetCurrentLoop(this);
  const size_t n = ProcessMessages();
  FlushOutboxes();
  graveyard_.clear();
  SetCurrentLoop(outer);
  return n;
}

// ---------------------------------------------------------------------------
// Actors and timers.

void LoopActor::RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  ACTNET_DCHECK(OnLoopThread());
  timers_.Schedule(clock_ns + absl::ToInt64Nanoseconds(delay), std::move(fn));
}

ActorRef LoopActor::Spawn(std::unique_ptr<Actor> actor) {
  return actors_.Register(std::move(actor));
}

void LoopActor::Despawn(const ActorRef& ref) {
  if (ref.loop != index()) return;
  Bury(ref, Terminated{ref, Terminated::Reason::kDespawned, {}});
}

void LoopActor::Bury(ActorRef ref, const Terminated& how) {
  if (std::unique_ptr<Actor> dead = actors_.Unregister(ref)) {
    graveyard_.push_back(std::move(dead));
    OnActorDied(ref, how);
  }
}

Actor* LoopActor::Find(const ActorRef& ref) const {
  if (ref.loop != index()) return nullptr;
  return actors_.Resolve(ref.target());
}

void LoopActor::Release(Conn& conn, bool counted, const CloseReason& why) {
  const ActorRef ref = conn.ref();
  Bury(ref, Terminated{ref, Terminated::Reason::kClosed, why});
  if (counted) {
    --connections_;
    link_.loads[index()].fetch_sub(1, std::memory_order_relaxed);
  }
}

LoopStats LoopActor::Stats() const {
  LoopStats s;
  s.loop = index();
  s.iterations = iterations_.Get();
  s.messages = messages_.Get();
  s.wakeups = mailbox_->wakeups();
  s.dead_letters = actors_.dead_letters();
  s.unhandled = unhandled_.Get();
  s.connections = link_.loads[index()].load(std::memory_order_relaxed);
  s.rejected = rejected_.Get();
  s.accept_pauses = accept_pauses_.Get();
  s.truncated_datagrams = truncated_datagrams.Get();
  s.dropped_datagrams = dropped_datagrams.Get();
  if (wait_ != nullptr) {
    s.polls = wait_->polls.Get();
    s.blocks = wait_->blocks.Get();
    s.windows = wait_->windows.Get();
    s.yields = wait_->yields.Get();
  }
  return s;
}

// ---------------------------------------------------------------------------
// Stopping: listeners first, then every connection closes gracefully,
// bounded by stop_timeout; then the loop exits.

void LoopActor::BeginStop() {
  stopping = true;
  stop_deadline_ns_ =
      clock_ns + absl::ToInt64Nanoseconds(options_.stop_timeout);
  for (Listener* l : listeners_) l->Stop();
  for (const ActorRef& ref : actors_.LiveRefs()) {
    if (ConnCore* c = AsConn(actors_.Resolve(ref.target()))) c->BeginStop();
  }
}

bool LoopActor::StopFinished() {
  if (connections_ != 0 && clock_ns < stop_deadline_ns_) return false;
  for (const ActorRef& ref : actors_.LiveRefs()) {
    if (ConnCore* c = AsConn(actors_.Resolve(ref.target()))) c->FinishStop();
  }
  // Deliver what is already queued for this loop's actors, then stop.
  ProcessMessages();
  return true;
}

void LoopActor::Exit() {
  stopped_ = true;
  // Foreign threads are refused from here on (a Dial or Post racing with
  // the stop gets an error at once); what they queued before runs now.
  mailbox_->CloseForeign([this](Envelope& e) { Dispatch(e); });
  // Run what is still queued now (a stopping loop refuses new work, so
  // dials report Cancelled and hand-offs close their fds) rather than when
  // the engine is destroyed, which may be much later.
  for (int rounds = 0; rounds < 64 && ProcessMessages() > 0; ++rounds) {
  }
  FlushOutboxes();
  // The actors die now: messages sent to them later (RunLeftovers) find no
  // actor and count as dead letters. Their watchers hear of it.
  for (const ActorRef& ref : actors_.LiveRefs()) {
    Bury(ref, Terminated{ref, Terminated::Reason::kLoopStopped, {}});
  }
  FlushOutboxes();
  asks_.clear();  // their askers are dead: nothing may fire
  free_asks_.clear();
  listeners_.clear();
  graveyard_.clear();
  timers_.Clear();
  link_.on_stopped();
}

// ---------------------------------------------------------------------------
// Request/reply, death watch, unhandled messages.

uint64_t LoopActor::BeginAsk(const ActorRef& asker, absl::Duration timeout,
                             AskDone done) {
  uint32_t index;
  if (!free_asks_.empty()) {
    index = free_asks_.back();
    free_asks_.pop_back();
  } else {
    index = static_cast<uint32_t>(asks_.size());
    asks_.emplace_back();
  }
  PendingAsk& slot = asks_[index];
  if (++slot.generation == 0) slot.generation = 1;
  slot.asker = asker;
  slot.done = std::move(done);
  const uint64_t id = (uint64_t{slot.generation} << 32) | index;
  if (timeout == absl::InfiniteDuration()) return id;
  RunAfter(timeout, [this, id, timeout] {
    EndAsk(id,
           absl::DeadlineExceededError(absl::StrCat(
               "Ask: no reply after ", absl::FormatDuration(timeout))),
           nullptr);
  });
  return id;
}

LoopActor::PendingAsk LoopActor::TakeAsk(uint64_t id) {
  const auto index = static_cast<uint32_t>(id);
  const auto generation = static_cast<uint32_t>(id >> 32);
  if (index >= asks_.size() || asks_[index].generation != generation ||
      asks_[index].done == nullptr) {
    return PendingAsk{};  // answered, timed out or cancelled
  }
  PendingAsk taken{asks_[index].asker, std::move(asks_[index].done), generation};
  asks_[index].done = nullptr;
  free_asks_.push_back(index);
  return taken;
}

void LoopActor::EndAsk(uint64_t id, const absl::Status& status, void* reply) {
  PendingAsk pending = TakeAsk(id);
  if (pending.done == nullptr) return;
  Actor* asker = Find(pending.asker);
  if (asker == nullptr) return;  // the asker died first
  if (ConnCore* conn = AsConn(asker)) {
    conn->RunAsHandler([&] { pending.done(status, reply); });
  } else {
    pending.done(status, reply);
  }
}

void LoopActor::SendTerminated(const ActorRef& watcher, const Terminated& how) {
  Envelope e = Envelope::Make<Terminated>(watcher.target(), how);
  // Past the outbox limit too: a notice owed is never dropped for space.
  if (!SendFromLoop(watcher.loop, std::move(e), /*bounded=*/false).ok()) {
    actors_.CountDeadLetter();  // the watcher's loop has stopped
  }
}

namespace {

// A watch table entry: `value` joins `key`'s list once.
void AddTo(absl::flat_hash_map<ActorRef, std::vector<ActorRef>>& table,
           const ActorRef& key, const ActorRef& value) {
  std::vector<ActorRef>& list = table[key];
  if (std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(value);
  }
}

// ... and leaves it; an empty list goes.
void RemoveFrom(absl::flat_hash_map<ActorRef, std::vector<ActorRef>>& table,
                const ActorRef& key, const ActorRef& value) {
  auto it = table.find(key);
  if (it == table.end()) return;
  std::vector<ActorRef>& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), value), list.end());
  if (list.empty()) table.erase(it);
}

}  // namespace

void LoopActor::AddWatch(const ActorRef& watcher, const ActorRef& target) {
  if (Find(target) == nullptr) {
    SendTerminated(watcher, Terminated{target, Terminated::Reason::kNotFound, {}});
    return;
  }
  AddTo(watchers_, target, watcher);
}

void LoopActor::RemoveWatch(const ActorRef& watcher, const ActorRef& target) {
  RemoveFrom(watchers_, target, watcher);
}

void LoopActor::NoteWatching(const ActorRef& watcher, const ActorRef& target) {
  AddTo(watching_, watcher, target);
}

void LoopActor::DropWatching(const ActorRef& watcher, const ActorRef& target) {
  RemoveFrom(watching_, watcher, target);
}

void LoopActor::OnActorDied(const ActorRef& ref, const Terminated& how) {
  if (!watchers_.empty()) {
    if (auto it = watchers_.find(ref); it != watchers_.end()) {
      std::vector<ActorRef> list = std::move(it->second);
      watchers_.erase(it);
      for (const ActorRef& w : list) SendTerminated(w, how);
    }
  }
  if (!watching_.empty()) {
    if (auto it = watching_.find(ref); it != watching_.end()) {
      std::vector<ActorRef> targets = std::move(it->second);
      watching_.erase(it);
      for (const ActorRef& t : targets) {
        if (t.loop == index()) {
          RemoveWatch(ref, t);
          continue;
        }
        Envelope e;
        e.EmplaceTask(MessageTarget{}, [ref, t](void* loop) {
          static_cast<LoopActor*>(static_cast<EventLoop*>(loop))
              ->RemoveWatch(ref, t);
        });
        (void)SendFromLoop(t.loop, std::move(e), /*bounded=*/false);
      }
    }
  }
  link_.engine->ForgetNames(ref);
}

void LoopActor::CountUnhandled(const Envelope& message, const ActorRef& to) {
  unhandled_.Add();
  if (!options_.log_unhandled) return;
  if (clock_ns - last_unhandled_log_ns_ < 1'000'000'000) return;
  last_unhandled_log_ns_ = clock_ns;
  ABSL_RAW_LOG(WARNING, "actnet: %s did not handle a message (type id %p)",
               to.ToString().c_str(), static_cast<const void*>(message.ops()));
}

}  // namespace actnet::internal
