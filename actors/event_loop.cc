#include "actors/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "actors/check.h"
#include "actors/engine.h"
#include "actors/listener.h"
#include "io/socket.h"

namespace actnet {
namespace {

thread_local EventLoop* tls_current_loop = nullptr;

// Poller tokens (EventLoop::Token): generation << 32 | host slot << 24 |
// slot for connections; the host slot says which loop of a co-hosted group
// the fd belongs to (0 for a loop alone on its thread). Generation 0 never
// names a live actor, so it marks the loop's own fds: slot 0 is the
// mailbox's eventfd, slot 1 + i is listener binding i.
constexpr uint32_t kWakeSlot = 0;

// write/writev with MSG_NOSIGNAL: a peer that went away is an EPIPE for
// this connection, never a SIGPIPE for the process.
ssize_t SendIov(int fd, iovec* iov, int count) {
  if (count == 1) return ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(count);
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int kMaxEvents = 256;
// Largest UDP payload (65,535 minus the UDP header) and then some.
constexpr size_t kMaxDatagram = 64 * 1024;
constexpr int kMaxIov = 64;
constexpr int kEdgeReadsPerTurn = 16;
constexpr size_t kGatherRetain = 1 << 20;

}  // namespace

EventLoop::EventLoop(Engine* engine, uint32_t index,
                     const EngineOptions& options,
                     std::unique_ptr<io::Poller> poller,
                     std::unique_ptr<Mailbox> mailbox)
    : engine_(engine),
      index_(index),
      options_(options),
      own_poller_(std::move(poller)),
      poller_(own_poller_.get()),
      mailbox_(std::move(mailbox)),
      actors_(index),
      scratch_(new char[std::max<size_t>(options.read_buffer_size, kMaxDatagram)]),
      scratch_size_(options.read_buffer_size),
      datagram_buffer_size_(std::max<size_t>(options.read_buffer_size, kMaxDatagram)),
      busy_poll_ns_(absl::ToInt64Nanoseconds(options.busy_poll)),
      coalesce_(busy_poll_ns_ > 0 ? 0 : absl::ToInt64Nanoseconds(options.coalesce),
                options.coalesce_min_busy_percent) {
  now_ns_ = MonotonicNs();
}

EventLoop::~EventLoop() {
  ACTNET_CHECK(!thread_.joinable());
  // Messages still queued (local queue, outbox backlogs) die with their
  // payloads here; other loops' mailboxes may already be gone, so nothing
  // is flushed into them.
  local_.Clear();
}

EventLoop* EventLoop::Current() { return tls_current_loop; }

void EventLoop::SetOutboxes(std::vector<Mailbox*> destinations) {
  outboxes_.clear();
  outboxes_.reserve(destinations.size());
  for (Mailbox* m : destinations) outboxes_.emplace_back(m, options_.outbox_limit);
}

void EventLoop::AddListener(Listener* listener, int fd) {
  if (listener->is_datagram()) {
    datagram_listeners_.emplace_back(listener, fd);
  } else {
    listeners_.push_back(ListenerBinding{listener, fd, false});
  }
}

void EventLoop::StartThread(int cpu, bool shares_cpu,
                            const std::vector<EventLoop*>& guests) {
  ACTNET_CHECK(guests.size() < kMaxGroup);
  shares_cpu_ = shares_cpu;
  group_.assign(1, this);
  for (EventLoop* guest : guests) {
    guest->host_slot_ = static_cast<uint32_t>(group_.size());
    guest->poller_ = poller_;
    // Its own poller has nothing registered yet (fds are registered from
    // the loop's thread, which is about to start).
    guest->own_poller_.reset();
    group_.push_back(guest);
  }
  thread_ = std::thread([this] { Run(); });
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread_.native_handle(), sizeof(set), &set);
  }
}

void EventLoop::Join() {
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------
// The loop.

void EventLoop::Run() {
  if (coalesce_.window_ns() > 0) {
    // The default timer slack (50 us) would stretch an 80 us window to 130.
    prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(
                                 std::max<int64_t>(1'000, coalesce_.window_ns() / 8)));
  }
  for (EventLoop* loop : group_) {
    tls_current_loop = loop;
    loop->Open();
  }
  io::PollEvent events[kMaxEvents];
  size_t running = group_.size();
  while (running > 0) {
    const int timeout = ComputeGroupTimeout();
    // Coalescing needs the loop's load: the time it spends waiting.
    const int64_t wait_from =
        timeout != 0 && coalesce_.window_ns() > 0 ? MonotonicNs() : -1;
    const int n = WaitForEvents(absl::MakeSpan(events, kMaxEvents), timeout);
    if (timeout != 0) UnparkGroup();
    const int64_t now = MonotonicNs();
    if (coalesce_.window_ns() > 0) {
      // Time yielded to other loops is not this loop idling: they ran.
      if (wait_from >= 0) coalesce_.RecordIdle(now - wait_from - yielded_ns_);
      yielded_ns_ = 0;
      coalesce_.Observe(now);
    }
    for (EventLoop* loop : group_) loop->now_ns_ = now;
    if (group_.size() == 1) {
      for (int i = 0; i < n; ++i) HandleEvent(events[i].token, events[i].events);
    } else {
      for (int i = 0; i < n; ++i) {
        EventLoop* loop = group_[(static_cast<uint32_t>(events[i].token) >> kSlotBits) %
                                 group_.size()];
        if (loop->stopped_) continue;
        tls_current_loop = loop;
        loop->HandleEvent(events[i].token, events[i].events);
      }
    }
    for (EventLoop* loop : group_) {
      if (loop->stopped_) continue;
      tls_current_loop = loop;
      if (loop->FinishIteration()) --running;
    }
  }
  tls_current_loop = nullptr;
}

void EventLoop::Open() {
  now_ns_ = MonotonicNs();
  absl::Status s = poller_->Add(mailbox_->wake_fd(), io::kReadable | io::kEdgeTriggered,
                                Token(0, kWakeSlot));
  ACTNET_CHECK_MSG(s.ok(), "registering the mailbox eventfd");
  for (size_t i = 0; i < listeners_.size(); ++i) {
    s = poller_->Add(listeners_[i].fd, io::kReadable,
                     Token(0, static_cast<uint32_t>(1 + i)));
    ACTNET_CHECK_MSG(s.ok(), "registering a listener");
  }
  for (auto& [listener, fd] : datagram_listeners_) OpenDatagramView(listener, fd);
}

bool EventLoop::FinishIteration() {
  counters_.iterations.Add();
  if (!read_again_.empty()) {
    std::vector<ActorRef> again;
    again.swap(read_again_);
    for (const ActorRef& ref : again) {
      if (Conn* c = FindConn(ref)) HandleReadable(*c, /*peer_hangup=*/true);
    }
  }
  ProcessMessages();
  timers_.RunDue(now_ns_);
  ProcessMessages();
  while (!dirty_.empty()) {
    Conn* c = dirty_.back();
    dirty_.pop_back();
    c->dirty_ = false;
    FlushAndNotify(*c);
  }
  FlushOutboxes();
  graveyard_.clear();
  if (!stopping_ && engine_->stop_requested_.load(std::memory_order_acquire)) {
    BeginStop();
  }
  if (!stopping_ || !StopFinished()) return false;
  Exit();
  return true;
}

void EventLoop::Exit() {
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
  // The actors die now: messages sent to them later (RunLeftovers) must
  // find no actor, and count as dead letters.
  for (const std::unique_ptr<Actor>& actor : graveyard_) {
    if (actor->self().valid()) actors_.Unregister(actor->self());
  }
  graveyard_.clear();
  timers_.Clear();
  engine_->OnLoopStopped();
}

size_t EventLoop::RunLeftovers() {
  EventLoop* const outer = tls_current_loop;
  tls_current_loop = this;
  const size_t n = ProcessMessages();
  FlushOutboxes();
  graveyard_.clear();
  tls_current_loop = outer;
  return n;
}

int EventLoop::ComputeGroupTimeout() {
  if (group_.size() == 1) return ComputeTimeout();
  int timeout = -1;
  for (EventLoop* loop : group_) {
    if (loop->stopped_) continue;
    const int t = loop->ComputeTimeout();
    if (t == 0) {
      UnparkGroup();  // the loops before this one parked
      return 0;
    }
    if (t > 0 && (timeout < 0 || t < timeout)) timeout = t;
  }
  return timeout;
}

void EventLoop::UnparkGroup() {
  for (EventLoop* loop : group_) loop->mailbox_->Unpark();
}

bool EventLoop::GroupHasPending() const {
  for (const EventLoop* loop : group_) {
    if (!loop->stopped_ && loop->mailbox_->HasPending()) return true;
  }
  return false;
}

// Polls (zero timeout) into events[ready..] and merges what the earlier
// poll(s) reported already (a level-triggered fd is reported again).
// Returns the number of distinct events now in events[0..].
int EventLoop::PollMore(absl::Span<io::PollEvent> events, int ready) {
  const int more = Poll(events.subspan(static_cast<size_t>(ready)), 0);
  int n = ready;
  for (int i = ready; i < ready + more; ++i) {
    int j = 0;
    while (j < ready && events[j].token != events[i].token) ++j;
    if (j < ready) {
      events[j].events |= events[i].events;
    } else {
      events[n++] = events[i];
    }
  }
  return n;
}

int EventLoop::WaitForEvents(absl::Span<io::PollEvent> events, int timeout) {
  if (timeout != 0 && busy_poll_ns_ > 0) {
    // Parked already: a message still arrives as the mailbox eventfd's
    // readiness, which the zero-timeout polls report like any other event.
    const int64_t until = MonotonicNs() + busy_poll_ns_;
    do {
      const int n = Poll(events, 0);
      if (n != 0) return n;
    } while (MonotonicNs() < until);
  } else if (timeout != 0 && coalesce_.ShouldCoalesce()) {
    // A loop that finds kTrickle or more events ready takes them at once
    // (a saturated loop must never sleep); fewer is a trickle, and the
    // window gathers more before any of them is handled.
    int n = Poll(events, 0);
    if (n >= CoalescePolicy::kTrickle) return n;
    // Unparked for the window: other loops' messages meanwhile are taken
    // after it without an eventfd write each.
    UnparkGroup();
    bool window = true;
    if (shares_cpu_) {
      // Loops sharing a CPU: a timer window would end while another loop
      // runs and preempt it, and each loop blocking in turn would be woken
      // by the other's messages. So the other loops run their pass first
      // (their messages to this loop need no eventfd write meanwhile; the
      // yield returns at once if none is runnable), and only if that still
      // leaves a trickle, which says the CPU is not contended, does this
      // loop sleep a window as a lone loop would.
      const int64_t from = MonotonicNs();
      sched_yield();
      counters_.yields.Add();
      yielded_ns_ = MonotonicNs() - from;
      n = PollMore(events, n);
      window = n + (GroupHasPending() ? 1 : 0) < CoalescePolicy::kTrickle;
    }
    if (window) {
      int64_t window_ns = coalesce_.sleep_ns();
      if (timeout > 0) window_ns = std::min<int64_t>(window_ns, int64_t{timeout} * 1'000'000);
      struct timespec ts = {static_cast<time_t>(window_ns / 1'000'000'000),
                            static_cast<long>(window_ns % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);  // EINTR: poll early
      counters_.windows.Add();
      n = PollMore(events, n);
    }
    const bool messages = GroupHasPending();
    coalesce_.Gathered(n + (messages ? 1 : 0));
    if (n != 0 || messages) return n;
    // Nothing came: park again (re-checking the stop flag and the next
    // timer deadline) and block.
    timeout = ComputeGroupTimeout();
    if (timeout == 0) return 0;
  }
  return Poll(events, timeout);
}

int EventLoop::Poll(absl::Span<io::PollEvent> events, int timeout) {
  counters_.polls.Add();
  if (timeout != 0) counters_.blocks.Add();
  return poller_->Wait(events, timeout);
}

LoopStats EventLoop::stats() const {
  LoopStats s;
  s.loop = index_;
  s.iterations = counters_.iterations.Get();
  s.polls = counters_.polls.Get();
  s.blocks = counters_.blocks.Get();
  s.windows = counters_.windows.Get();
  s.yields = counters_.yields.Get();
  s.messages = counters_.messages.Get();
  s.wakeups = mailbox_->wakeups();
  s.dead_letters = actors_.dead_letters();
  if (engine_->loads() != nullptr) {
    s.connections = engine_->loads()[index_].load(std::memory_order_relaxed);
  }
  return s;
}

int EventLoop::ComputeTimeout() {
  if (!local_.empty() || !busy_outboxes_.empty() || !read_again_.empty() ||
      mailbox_->HasPending()) {
    return 0;
  }
  for (int i = 0; i < options_.idle_spins; ++i) {
    if (mailbox_->HasPending()) return 0;
  }
  if (!mailbox_->TryPark()) return 0;
  // Memory ordering: seq_cst load after TryPark's seq_cst store of
  // `sleeping`; pairs with Engine::Stop (see engine.h).
  if (engine_->stop_requested_.load(std::memory_order_seq_cst) != stopping_) {
    mailbox_->Unpark();
    return 0;
  }
  int64_t deadline = -1;
  if (!timers_.empty()) deadline = timers_.NextDeadline();
  if (stopping_ && (deadline < 0 || stop_deadline_ns_ < deadline)) {
    deadline = stop_deadline_ns_;
  }
  if (deadline < 0) return -1;
  const int64_t wait_ns = deadline - MonotonicNs();
  if (wait_ns <= 0) {
    mailbox_->Unpark();
    return 0;
  }
  // Round up so a timer is never woken for early.
  return static_cast<int>(std::min<int64_t>((wait_ns + 999'999) / 1'000'000,
                                            1'000'000));
}

void EventLoop::HandleEvent(uint64_t token, uint32_t events) {
  const uint32_t slot = static_cast<uint32_t>(token) & kSlotMask;
  const uint32_t generation = static_cast<uint32_t>(token >> 32);
  if (generation == 0) {
    if (slot == 0) return;  // mailbox wake-up: drained by ProcessMessages
    ListenerBinding& b = listeners_[slot - 1];
    bool pause = false;
    b.listener->OnReadable(*this, b.fd, &pause);
    if (pause && !b.paused) {
      b.paused = true;
      (void)poller_->Modify(b.fd, 0, token);
      RunAfter(options_.accept_backoff, [this, slot, token] {
        ListenerBinding& lb = listeners_[slot - 1];
        if (!lb.paused || stopping_) return;
        lb.paused = false;
        (void)poller_->Modify(lb.fd, io::kReadable, token);
      });
    }
    return;
  }
  Actor* actor = actors_.Resolve(MessageTarget{slot, generation});
  if (actor == nullptr) return;  // closed earlier in this batch
  Conn& conn = *static_cast<Conn*>(actor);
  if (conn.state_ == Conn::State::kConnecting) {
    FinishConnect(conn);
    return;
  }
  if ((events & (io::kError | io::kHangup)) != 0 &&
      (events & (io::kReadable | io::kWritable)) == 0) {
    int err = io::SocketError(conn.fd());
    if (err == 0 && conn.state_ == Conn::State::kOpen && !conn.peer_eof_ &&
        (conn.user_paused_ || conn.read_paused_) && conn.out_.empty()) {
      // Our FIN is out and the peer's has arrived, but reading is paused:
      // bytes the peer sent before its FIN are still unread. Closing now
      // would drop them; wait, off the poller, until reading resumes.
      (void)poller_->Remove(conn.fd());
      conn.hup_parked_ = true;
      return;
    }
    CloseNow(conn, err != 0 ? CloseReason{CloseReason::Kind::kError, err}
                   : conn.state_ == Conn::State::kClosing
                       ? conn.pending_reason_
                       : CloseReason{CloseReason::Kind::kPeerClosed, 0});
    return;
  }
  // Writable first: drain output before taking more input.
  if ((events & io::kWritable) != 0) HandleWritable(conn);
  if ((events & (io::kReadable | io::kReadHangup)) != 0) {
    HandleReadable(conn, (events & (io::kReadHangup | io::kHangup)) != 0);
  }
}

void EventLoop::Dispatch(Envelope& message) {
  if (message.is_task()) {
    message.RunTask(this);
  } else {
    actors_.Deliver(message);
  }
}

size_t EventLoop::ProcessMessages() {
  size_t n = mailbox_->Drain([this](Envelope& e) { Dispatch(e); });
  if (n != 0) counters_.messages.Add(n);
  // Local messages may beget local messages; a bound keeps I/O flowing.
  size_t budget = options_.mailbox_batch;
  while (!local_.empty() && budget-- > 0) {
    Envelope e = local_.TakeFront();
    Dispatch(e);
    ++n;
  }
  return n;
}

absl::Status EventLoop::SendFromLoop(uint32_t to_loop, Envelope&& message) {
  if (to_loop == index_) {
    local_.Push(std::move(message));
    return absl::OkStatus();
  }
  Outbox& out = outboxes_[to_loop];
  const bool was_empty = out.empty();
  absl::Status s = out.Push(std::move(message));
  if (!s.ok()) return s;
  if (was_empty) busy_outboxes_.push_back(to_loop);
  if (out.size() >= out.destination()->ring().max_claim()) out.Flush();
  return absl::OkStatus();
}

void EventLoop::FlushOutboxes() {
  size_t kept = 0;
  for (size_t i = 0; i < busy_outboxes_.size(); ++i) {
    const uint32_t to = busy_outboxes_[i];
    if (!outboxes_[to].Flush()) busy_outboxes_[kept++] = to;
  }
  busy_outboxes_.resize(kept);
}

void EventLoop::RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  ACTNET_DCHECK(IsCurrent() || !thread_.joinable());
  timers_.Schedule(now_ns_ + absl::ToInt64Nanoseconds(delay), std::move(fn));
}

ActorRef EventLoop::Spawn(std::unique_ptr<Actor> actor) {
  ActorRef ref = actors_.Register(actor.get());
  if (slots_.size() <= ref.slot) slots_.resize(ref.slot + 1);
  slots_[ref.slot] = Slot{std::move(actor), false};
  return ref;
}

void EventLoop::Despawn(const ActorRef& ref) {
  if (actors_.Resolve(ref.target()) == nullptr) return;
  graveyard_.push_back(std::move(slots_[ref.slot].actor));
  actors_.Unregister(ref);
}

Actor* EventLoop::Find(const ActorRef& ref) const {
  if (ref.loop != index_) return nullptr;
  return actors_.Resolve(ref.target());
}

Conn* EventLoop::FindConn(const ActorRef& ref) const {
  Actor* a = Find(ref);
  if (a == nullptr || !slots_[ref.slot].is_conn) return nullptr;
  return static_cast<Conn*>(a);
}

// ---------------------------------------------------------------------------
// Stopping.

void EventLoop::BeginStop() {
  stopping_ = true;
  stop_deadline_ns_ = now_ns_ + absl::ToInt64Nanoseconds(options_.stop_timeout);
  for (ListenerBinding& b : listeners_) (void)poller_->Remove(b.fd);
  // By index: a handler's OnClose may spawn actors and grow slots_.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].actor != nullptr && slots_[i].is_conn) {
      Conn& c = *static_cast<Conn*>(slots_[i].actor.get());
      const CloseReason stopped{CloseReason::Kind::kEngineStopped, 0};
      if (c.state_ == Conn::State::kConnecting) {
        CloseNow(c, stopped);  // its dial callback hears of it
      } else {
        CloseGracefully(c, stopped);
      }
    }
  }
}

bool EventLoop::StopFinished() {
  if (connections_ != 0 && now_ns_ < stop_deadline_ns_) return false;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].actor != nullptr && slots_[i].is_conn) {
      CloseNow(*static_cast<Conn*>(slots_[i].actor.get()),
               CloseReason{CloseReason::Kind::kEngineStopped, 0});
    }
  }
  // Deliver what is already queued for this loop's actors, then stop.
  ProcessMessages();
  for (Slot& s : slots_) {
    if (s.actor != nullptr) graveyard_.push_back(std::move(s.actor));
  }
  return true;
}

// ---------------------------------------------------------------------------
// Connections.

uint32_t EventLoop::ReadInterest() const {
  return options_.edge_triggered
             ? io::kReadable | io::kWritable | io::kReadHangup | io::kEdgeTriggered
             : io::kReadable;
}

void EventLoop::Adopt(io::UniqueFd fd, const io::SocketAddress& peer,
                      Listener* listener, Admission admission) {
  if (stopping_) return;  // the fd closes with the UniqueFd
  if (listener->is_tcp()) {
    if (options_.tcp_nodelay) (void)io::SetNoDelay(fd.Get(), true);
    if (options_.tcp_keepalive > absl::ZeroDuration()) {
      (void)io::SetKeepAlive(
          fd.Get(), true,
          static_cast<int>(absl::ToInt64Seconds(options_.tcp_keepalive)));
    }
  }
  std::unique_ptr<Handler> handler = listener->MakeHandler();
  if (handler == nullptr) return;
  Conn* conn = RegisterConn(std::move(fd), std::move(handler), peer,
                            Conn::State::kOpen, ReadInterest());
  if (conn != nullptr) {
    conn->admission_ = std::move(admission);
    RunHandler(*conn, [conn] { return conn->handler().OnOpen(*conn); });
  }
}

Conn* EventLoop::RegisterConn(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                              const io::SocketAddress& peer, Conn::State state,
                              uint32_t interest, bool counted) {
  std::unique_ptr<Conn> owned(
      new Conn(this, std::move(fd), std::move(handler), peer));
  Conn& conn = *owned;
  conn.state_ = state;
  conn.udp_server_ = !counted;
  const ActorRef ref = actors_.Register(&conn);
  if (slots_.size() <= ref.slot) slots_.resize(ref.slot + 1);
  slots_[ref.slot] = Slot{std::move(owned), true};
  conn.interest_ = interest;
  if (counted) {
    ++connections_;
    engine_->loads()[index_].fetch_add(1, std::memory_order_relaxed);
  }
  conn.last_active_ns_ = now_ns_;
  if (counted && options_.idle_timeout > absl::ZeroDuration()) {
    ScheduleIdleCheck(ref, now_ns_ + absl::ToInt64Nanoseconds(options_.idle_timeout));
  }
  // A poller token has 24 bits for the slot (16.7 M live actors a loop).
  absl::Status s = ref.slot <= kSlotMask
                       ? poller_->Add(conn.fd(), conn.interest_, Token(ref))
                       : absl::ResourceExhaustedError("too many actors on one loop");
  if (!s.ok()) {
    ABSL_RAW_LOG(WARNING, "registering fd %d: %s", conn.fd(),
                 s.ToString().c_str());
    conn.state_ = Conn::State::kConnecting;  // closes without OnClose
    CloseNow(conn, CloseReason{CloseReason::Kind::kError, EBADF});
    return nullptr;
  }
  return &conn;
}

void EventLoop::HandleReadable(Conn& conn, bool peer_hangup) {
  if (conn.datagram_) {
    HandleDatagrams(conn);
    return;
  }
  if (conn.fin_sent_) {
    DrainAfterFin(conn);
    return;
  }
  if (conn.peer_eof_) return;  // half-open: the handler decides when to close
  for (int reads = 0; conn.state_ == Conn::State::kOpen &&
                      !conn.read_paused_ && !conn.user_paused_;
       ++reads) {
    if (reads == kEdgeReadsPerTurn) {
      read_again_.push_back(conn.ref());
      return;
    }
    const ssize_t n = ::recv(conn.fd(), scratch_.get(), scratch_size_, 0);
    if (n > 0) {
      conn.last_active_ns_ = now_ns_;
      if (conn.in_.empty()) {
        conn.view_ = scratch_.get();
        conn.view_len_ = static_cast<size_t>(n);
      } else {
        conn.in_.Append(scratch_.get(), static_cast<size_t>(n));
      }
      RunHandler(conn, [&conn] { return conn.handler().OnData(conn); });
      if (conn.in_.size() > options_.max_inbound_buffer) {
        CloseGracefully(conn, CloseReason{CloseReason::Kind::kInboundLimit, 0});
        return;
      }
      // Level-triggered: one read per event. Edge-triggered: a short read
      // emptied the socket of data and the next arrival raises a new edge,
      // unless the peer's FIN came with it: then read on to see the EOF.
      if (!options_.edge_triggered) return;
      if (static_cast<size_t>(n) < scratch_size_ && !peer_hangup) return;
      continue;
    }
    if (n == 0) {
      HandlePeerClosed(conn);
      return;
    }
    if (errno == EAGAIN || errno == EINTR) return;
    CloseNow(conn, CloseReason{CloseReason::Kind::kError, errno});
    return;
  }
}

void EventLoop::HandlePeerClosed(Conn& conn) {
  conn.peer_eof_ = true;
  bool close = false;
  RunHandler(conn, [&conn, &close] {
    const Action action = conn.handler().OnPeerClosed(conn);
    close = action == Action::kClose;
    return close ? Action::kNone : action;
  });
  if (close) {
    CloseGracefully(conn, CloseReason{CloseReason::Kind::kPeerClosed, 0});
  } else {
    AfterOutput(conn);  // drops read interest (level-triggered)
  }
}

void EventLoop::HandleWritable(Conn& conn) {
  if (conn.state_ == Conn::State::kClosed) return;
  FlushAndNotify(conn);
}

void EventLoop::RunHandler(Conn& conn, absl::FunctionRef<Action()> fn) {
  if (conn.state_ == Conn::State::kClosed) return;
  Conn* outer = gather_conn_;
  if (outer != nullptr && outer != &conn) FlushGather(*outer);
  gather_conn_ = &conn;
  const Action action = fn();
  conn.Settle();
  // Restore first: writes made by completion callbacks run from the flush
  // go to the connection's queue, not to a gather nobody will flush.
  gather_conn_ = outer;
  FlushGather(conn);
  if (conn.state_ == Conn::State::kClosing) ArmLinger(conn);
  ApplyAction(conn, action);
}

void EventLoop::ApplyAction(Conn& conn, Action action) {
  switch (action) {
    case Action::kNone:
      break;
    case Action::kClose:
      CloseGracefully(conn, CloseReason{CloseReason::Kind::kLocal, 0});
      break;
    case Action::kShutdown:
      engine_->Stop();
      break;
  }
}

void EventLoop::Write(Conn& conn, absl::string_view data) {
  if (conn.state_ != Conn::State::kOpen || conn.shutdown_write_) return;
  if (conn.datagram_) {
    SendDatagram(conn, data);
    return;
  }
  if (data.empty()) return;
  conn.bytes_queued_ += data.size();
  if (gather_conn_ != &conn || !conn.out_.empty()) {
    conn.out_.Append(data);
    MarkDirty(conn);
    return;
  }
  if (InScratch(data)) {
    gather_chunks_.push_back(Chunk{data.data(), 0, data.size()});
    return;
  }
  const size_t offset = gather_.size();
  gather_.append(data.data(), data.size());
  if (!gather_chunks_.empty() && gather_chunks_.back().external == nullptr) {
    gather_chunks_.back().size += data.size();  // contiguous in gather_
  } else {
    gather_chunks_.push_back(Chunk{nullptr, offset, data.size()});
  }
}

void EventLoop::FlushGather(Conn& conn) {
  if (conn.state_ == Conn::State::kClosed) {
    gather_chunks_.clear();  // never leak into another connection's write
    gather_.clear();
  }
  if (!gather_chunks_.empty()) {
    size_t done = 0;  // chunks fully written
    size_t partial = 0;  // bytes written of chunk `done`
    bool failed = false;
    while (done < gather_chunks_.size()) {
      iovec iov[kMaxIov];
      int count = 0;
      size_t total = 0;
      for (size_t i = done; i < gather_chunks_.size() && count < kMaxIov; ++i) {
        const Chunk& c = gather_chunks_[i];
        const char* base = c.external != nullptr ? c.external : gather_.data() + c.offset;
        const size_t skip = i == done ? partial : 0;
        iov[count].iov_base = const_cast<char*>(base + skip);
        iov[count].iov_len = c.size - skip;
        total += c.size - skip;
        ++count;
      }
      const ssize_t n = SendIov(conn.fd(), iov, count);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        failed = true;
        CloseNow(conn, CloseReason{CloseReason::Kind::kError, errno});
        break;
      }
      conn.bytes_sent_ += static_cast<uint64_t>(n);
      conn.last_active_ns_ = now_ns_;
      size_t left = static_cast<size_t>(n);
      while (left > 0) {
        const size_t rest = gather_chunks_[done].size - partial;
        if (left >= rest) {
          left -= rest;
          ++done;
          partial = 0;
        } else {
          partial += left;
          left = 0;
        }
      }
      if (static_cast<size_t>(n) < total) break;  // socket buffer full
    }
    if (!failed) {
      for (size_t i = done; i < gather_chunks_.size(); ++i) {
        const Chunk& c = gather_chunks_[i];
        const char* base = c.external != nullptr ? c.external : gather_.data() + c.offset;
        const size_t skip = i == done ? partial : 0;
        conn.out_.Append(base + skip, c.size - skip);
      }
    }
    gather_chunks_.clear();
    gather_.clear();
    if (gather_.capacity() > kGatherRetain) gather_.shrink_to_fit();
  }
  AfterOutput(conn);
}

void EventLoop::FlushQueued(Conn& conn) {
  if (conn.state_ == Conn::State::kClosed) return;
  while (!conn.out_.empty()) {
    iovec iov[2];
    const int count = conn.out_.FillIovecs(iov, 2);
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    const ssize_t n = SendIov(conn.fd(), iov, count);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      CloseNow(conn, CloseReason{CloseReason::Kind::kError, errno});
      return;
    }
    conn.out_.Discard(static_cast<size_t>(n));
    conn.bytes_sent_ += static_cast<uint64_t>(n);
    conn.last_active_ns_ = now_ns_;
    if (static_cast<size_t>(n) < total) break;
  }
  AfterOutput(conn);
}

// After output moved: completions, interest, back-pressure, pending close.
void EventLoop::AfterOutput(Conn& conn) {
  if (conn.state_ == Conn::State::kClosed) return;
  if (!conn.write_callbacks_.empty()) {
    size_t fired = 0;
    while (fired < conn.write_callbacks_.size() &&
           conn.write_callbacks_[fired].first <= conn.bytes_sent_) {
      conn.write_callbacks_[fired].second(absl::OkStatus());
      ++fired;
    }
    conn.write_callbacks_.erase(conn.write_callbacks_.begin(),
                                conn.write_callbacks_.begin() + fired);
  }
  const size_t queued = conn.out_.size();
  if (conn.state_ == Conn::State::kClosing && queued == 0 &&
      gather_conn_ != &conn && !conn.fin_sent_) {
    FinishClose(conn);
    return;
  }
  if (conn.shutdown_write_ && !conn.write_fin_sent_ && queued == 0 &&
      gather_conn_ != &conn && conn.state_ == Conn::State::kOpen) {
    conn.write_fin_sent_ = true;
    if (::shutdown(conn.fd(), SHUT_WR) != 0) {
      CloseNow(conn, CloseReason{CloseReason::Kind::kError, errno});
      return;
    }
  }
  if (!conn.read_paused_ && queued > options_.write_high_water) {
    conn.read_paused_ = true;
  } else if (conn.read_paused_ && queued <= options_.write_low_water) {
    conn.read_paused_ = false;
    // Edge-triggered: bytes that arrived while paused raise no new edge.
    if (options_.edge_triggered) read_again_.push_back(conn.ref());
  }
  if (options_.edge_triggered) {  // registered once for both directions
    if (queued != 0) conn.backlogged_ = true;
    return;
  }
  if (queued != 0) conn.backlogged_ = true;
  uint32_t interest = 0;
  if ((conn.state_ == Conn::State::kOpen && !conn.read_paused_ &&
       !conn.user_paused_ && !conn.peer_eof_) ||
      conn.fin_sent_) {
    interest |= io::kReadable;
  }
  if (queued != 0) interest |= io::kWritable;
  SetInterest(conn, interest);
}

void EventLoop::FlushAndNotify(Conn& conn) {
  FlushQueued(conn);
  if (conn.backlogged_ && conn.out_.empty() &&
      conn.state_ == Conn::State::kOpen) {
    conn.backlogged_ = false;
    RunHandler(conn, [&conn] { return conn.handler().OnDrain(conn); });
  }
}

void EventLoop::ScheduleTick(Conn& conn) {
  const ActorRef ref = conn.ref();
  const uint32_t generation = conn.tick_generation_;
  RunAfter(conn.tick_interval_, [this, ref, generation] {
    Conn* c = FindConn(ref);
    if (c == nullptr || c->tick_generation_ != generation ||
        c->state_ != Conn::State::kOpen) {
      return;
    }
    RunHandler(*c, [c] { return c->handler().OnTick(*c); });
    if (c->state_ == Conn::State::kOpen && c->tick_generation_ == generation) {
      ScheduleTick(*c);
    }
  });
}

void EventLoop::ScheduleIdleCheck(const ActorRef& ref, int64_t deadline_ns) {
  timers_.Schedule(deadline_ns, [this, ref] {
    Conn* c = FindConn(ref);
    if (c == nullptr || c->state_ == Conn::State::kClosed) return;
    const int64_t deadline =
        c->last_active_ns_ + absl::ToInt64Nanoseconds(options_.idle_timeout);
    if (now_ns_ < deadline) {
      ScheduleIdleCheck(ref, deadline);
    } else if (c->state_ == Conn::State::kConnecting) {
      return;  // the dial timeout owns connecting sockets
    } else if (c->state_ == Conn::State::kOpen) {
      CloseGracefully(*c, CloseReason{CloseReason::Kind::kIdle, 0});
    } else {
      CloseNow(*c, CloseReason{CloseReason::Kind::kIdle, 0});
    }
  });
}

void EventLoop::MarkDirty(Conn& conn) {
  if (conn.dirty_) return;
  conn.dirty_ = true;
  dirty_.push_back(&conn);
}

void EventLoop::SetInterest(Conn& conn, uint32_t interest) {
  if (conn.hup_parked_) {
    conn.interest_ = interest;
    if ((interest & io::kReadable) == 0) return;
    // Reading resumed: back on the poller, which reports the unread bytes
    // and then the EOF.
    conn.hup_parked_ = false;
    (void)poller_->Add(conn.fd(), interest, Token(conn.ref()));
    return;
  }
  if (interest == conn.interest_) return;
  conn.interest_ = interest;
  (void)poller_->Modify(conn.fd(), interest, Token(conn.ref()));
}

void EventLoop::CloseGracefully(Conn& conn, CloseReason reason) {
  if (conn.state_ != Conn::State::kOpen) return;
  // A UDP listener's view is the listener itself on this loop: a handler
  // cannot close it (that would stop the loop reading its socket).
  if (conn.udp_server_ && !stopping_) return;
  conn.state_ = Conn::State::kClosing;
  conn.pending_reason_ = reason;
  if (gather_conn_ == &conn) return;  // RunHandler flushes, then finishes
  if (conn.out_.empty()) {
    FinishClose(conn);
    return;
  }
  AfterOutput(conn);  // stops reading, keeps writing
  ArmLinger(conn);
}

void EventLoop::ArmLinger(Conn& conn) {
  if (conn.state_ != Conn::State::kClosing || conn.linger_armed_) return;
  // While stopping, stop_timeout (StopFinished) bounds every close instead.
  if (stopping_) return;
  conn.linger_armed_ = true;
  const ActorRef ref = conn.ref();
  RunAfter(options_.close_linger, [this, ref] {
    if (Conn* c = FindConn(ref)) {
      // All output sent and FIN out: the peer was just slow to finish.
      // Otherwise output is abandoned, which CloseNow turns into a reset.
      CloseNow(*c, c->fin_sent_ ? c->pending_reason_
                                : CloseReason{CloseReason::Kind::kTimeout, 0});
    }
  });
}

void EventLoop::FinishClose(Conn& conn) {
  const CloseReason::Kind kind = conn.pending_reason_.kind;
  const bool linger = !conn.datagram_ && !conn.peer_eof_ &&
                      (kind == CloseReason::Kind::kLocal ||
                       kind == CloseReason::Kind::kEngineStopped);
  if (!linger) {
    CloseNow(conn, conn.pending_reason_);
    return;
  }
  // Lingering close: close() with unread input would make the kernel reset
  // the connection and drop what the peer has not yet received. Send FIN
  // after the data instead, then read and discard until the peer's EOF
  // (bounded by close_linger, or the stop deadline).
  if (::shutdown(conn.fd(), SHUT_WR) != 0) {
    CloseNow(conn, conn.pending_reason_);
    return;
  }
  conn.fin_sent_ = true;
  conn.read_paused_ = false;
  if (!options_.edge_triggered) SetInterest(conn, io::kReadable);
  ArmLinger(conn);
  DrainAfterFin(conn);
}

void EventLoop::DrainAfterFin(Conn& conn) {
  for (int i = 0; i < kEdgeReadsPerTurn && conn.state_ == Conn::State::kClosing; ++i) {
    const ssize_t n = ::recv(conn.fd(), scratch_.get(), scratch_size_, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    CloseNow(conn, conn.pending_reason_);  // EOF (or the peer reset: done)
    return;
  }
  if (conn.state_ == Conn::State::kClosing && options_.edge_triggered) {
    read_again_.push_back(conn.ref());
  }
}

void EventLoop::CloseNow(Conn& conn, CloseReason reason) {
  if (conn.state_ == Conn::State::kClosed) return;
  const bool was_open = conn.state_ != Conn::State::kConnecting;
  // A dial that dies before opening still reports, exactly once.
  DialCallback dial_done = was_open ? nullptr : std::move(conn.dial_done_);
  conn.state_ = Conn::State::kClosed;
  (void)poller_->Remove(conn.fd());
  if (was_open && !conn.udp_server_) conn.handler().OnClose(conn, reason);
  const absl::Status closed = absl::FailedPreconditionError(
      "connection closed before the write was sent: " + reason.ToString());
  for (auto& [mark, cb] : conn.write_callbacks_) {
    cb(mark <= conn.bytes_sent_ ? absl::OkStatus() : closed);
  }
  conn.write_callbacks_.clear();
  if (!conn.out_.empty() && !conn.datagram_ && conn.owns_fd_) {
    // Output is being abandoned: reset rather than FIN, so the peer sees an
    // error instead of a clean end after a truncated reply.
    const linger lg{1, 0};
    ::setsockopt(conn.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  if (conn.owns_fd_) {
    conn.fd_.Reset();
  } else {
    conn.fd_.Release();
  }
  conn.in_.Clear();
  conn.out_.Clear();
  conn.view_ = nullptr;
  conn.view_len_ = 0;
  std::vector<absl::AnyInvocable<void()>> callbacks;
  callbacks.swap(conn.close_callbacks_);
  const ActorRef ref = conn.ref();
  graveyard_.push_back(std::move(slots_[ref.slot].actor));
  slots_[ref.slot].is_conn = false;
  actors_.Unregister(ref);
  if (!conn.udp_server_) {
    --connections_;
    engine_->loads()[index_].fetch_sub(1, std::memory_order_relaxed);
  }
  for (auto& cb : callbacks) cb();
  if (dial_done) {
    dial_done(absl::CancelledError(
        absl::StrCat("dial ", conn.dial_target_, ": ", reason.ToString())));
  }
}

void EventLoop::Abort(Conn& conn) {
  if (conn.state_ == Conn::State::kClosed) return;
  if (!conn.datagram_) {
    const linger lg{1, 0};
    ::setsockopt(conn.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  if (gather_conn_ == &conn) {
    gather_chunks_.clear();
    gather_.clear();
  }
  CloseNow(conn, CloseReason{CloseReason::Kind::kLocal, 0});
}

}  // namespace actnet
