#include "actors/engine.h"

#include <sched.h>
#include <unistd.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/check.h"
#include "actors/conn_messages.h"
#include "io/address.h"
#include "io/epoll_poller.h"
#include "io/socket.h"

namespace actnet {
namespace {

// Holds a dial's callback across the hand-off to its loop: reported exactly
// once, by the loop that runs the dial, or with Cancelled if the task dies
// unrun (the engine stopped first), so no DialAndWait can wait forever.
// Copies share the callback (see PostDial).
class PendingDial {
 public:
  explicit PendingDial(DialCallback done)
      : state_(std::make_shared<State>(std::move(done))) {}
  DialCallback Take() { return std::exchange(state_->done, nullptr); }

 private:
  struct State {
    explicit State(DialCallback d) : done(std::move(d)) {}
    ~State() {
      if (done) done(absl::CancelledError("dial: the engine stopped first"));
    }
    DialCallback done;
  };
  std::shared_ptr<State> state_;
};

// Posts fn(EventLoop&, DialCallback) to `loop` for Dial and Enroll. If the
// post is refused (the loop has stopped, or its queue is full) the status
// says so and `done` is never called: the copy kept here withdraws it
// before the refused task's copy could report it a second time.
template <class F>
absl::Status PostDial(Engine& engine, uint32_t loop, DialCallback done, F fn) {
  PendingDial pending(std::move(done));
  PendingDial withdraw = pending;
  absl::Status s = engine.Post(
      loop, [fn = std::move(fn), pending = std::move(pending)](EventLoop& l) mutable {
        fn(l, pending.Take());
      });
  if (!s.ok()) withdraw.Take();
  return s;
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(std::move(options)) {
  if (options_.loops <= 0) {
    const unsigned n = std::thread::hardware_concurrency();
    options_.loops = n == 0 ? 1 : static_cast<int>(n);
  }
}

Engine::~Engine() {
  if (started_ && !joined_) {
    Stop();
    Wait();
  }
  // Loops (and their mailboxes) go before the listeners they point to;
  // last first, so co-hosted guests go before the host whose poller they
  // use.
  while (!loops_.empty()) loops_.pop_back();
  for (auto& l : listeners_) l->Close();
}

absl::Status Engine::Listen(absl::string_view url, HandlerFactory factory) {
  if (started_) {
    return absl::FailedPreconditionError(
        absl::StrCat("Listen(", url, "): the engine is already running"));
  }
  if (factory == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Listen(", url, "): no handler factory"));
  }
  absl::StatusOr<io::Address> address = io::ParseAddress(url);
  if (!address.ok()) return address.status();
  listeners_.push_back(std::make_unique<Listener>(
      std::move(*address), std::move(factory), options_.balancer));
  return absl::OkStatus();
}

absl::Status Engine::CreateLoops() {
  const size_t n = static_cast<size_t>(options_.loops);
  loads_.reset(new std::atomic<int64_t>[n]);
  for (size_t i = 0; i < n; ++i) loads_[i].store(0);
  MailboxOptions mo;
  mo.ring_capacity = options_.mailbox_capacity;
  mo.max_producers = n > 1 ? n - 1 : 1;
  mo.batch = options_.mailbox_batch;
  mo.foreign_limit = options_.foreign_queue_limit;
  std::vector<Mailbox*> mailboxes;
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<std::unique_ptr<io::EpollPoller>> poller =
        io::EpollPoller::Create();
    if (!poller.ok()) return poller.status();
    absl::StatusOr<std::unique_ptr<Mailbox>> mailbox = Mailbox::Create(mo);
    if (!mailbox.ok()) return mailbox.status();
    mailboxes.push_back(mailbox->get());
    loops_.push_back(std::unique_ptr<EventLoop>(
        new EventLoop(this, static_cast<uint32_t>(i), options_,
                      std::move(*poller), std::move(*mailbox))));
  }
  for (auto& loop : loops_) loop->SetOutboxes(mailboxes);
  return absl::OkStatus();
}

absl::Status Engine::Start() {
  if (started_) return absl::FailedPreconditionError("engine already started");
  if (loops_.empty()) {
    absl::Status s = CreateLoops();
    if (!s.ok()) {
      loops_.clear();
      return s;
    }
  }
  for (auto& l : listeners_) {
    absl::Status s = l->Bind(options_.loops);
    if (!s.ok()) {
      for (auto& other : listeners_) other->Close();
      return s;
    }
  }
  for (auto& l : listeners_) {
    for (int i = 0; i < options_.loops; ++i) {
      if (l->per_loop() || i == 0) loops_[static_cast<size_t>(i)]->AddListener(l.get(), l->fd_for_loop(i));
    }
  }
  if (on_tick_) ScheduleTick(first_tick_);
  started_ = true;
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  // Loops share CPUs when there are more of them than CPUs they may run on:
  // pinned, when another loop is pinned to the same CPU; unpinned, when the
  // process's affinity (taskset, cgroup cpusets) allows fewer CPUs than loops.
  const bool pinned = options_.pin_cpus && cpus > 0;
  int allowed = cpus;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = CPU_COUNT(&set);
  const int loops = static_cast<int>(loops_.size());
  const int capacity = std::max(1, pinned ? cpus : allowed);
  if (options_.cohost_loops && loops > capacity) {
    // One thread per CPU, each running the loops that would share that CPU
    // (loop i on thread i % threads, pinned to CPU i % cpus when pinning).
    const int per_thread_max = static_cast<int>(EventLoop::kMaxGroup) - 1;
    const int threads = std::max(capacity, (loops + per_thread_max - 1) / per_thread_max);
    for (int h = 0; h < threads; ++h) {
      std::vector<EventLoop*> guests;
      for (int i = h + threads; i < loops; i += threads) {
        guests.push_back(loops_[static_cast<size_t>(i)].get());
      }
      loops_[static_cast<size_t>(h)]->StartThread(pinned ? h % cpus : -1,
                                                   threads > capacity, guests);
    }
  } else {
    for (int i = 0; i < loops; ++i) {
      // Loops pinned to CPU c: one per full round of `cpus`, plus one if c
      // comes before the remainder.
      const int on_my_cpu =
          pinned ? loops / cpus + ((i % cpus) < loops % cpus ? 1 : 0) : 0;
      const bool shares = pinned ? on_my_cpu > 1 : loops > allowed;
      loops_[static_cast<size_t>(i)]->StartThread(pinned ? i % cpus : -1, shares);
    }
  }
  if (on_boot_) on_boot_(*this);
  return absl::OkStatus();
}

absl::Status Engine::Run() {
  absl::Status s = Start();
  if (!s.ok()) return s;
  Wait();
  return absl::OkStatus();
}

void Engine::Wait() {
  if (!started_ || joined_) return;
  for (auto& loop : loops_) loop->Join();
  joined_ = true;
  // A loop that stopped while another still ran may have been sent more
  // (a loop-to-loop task, a hand-off, a dial): run it now, on this thread,
  // as the loop's own exit would have (the loop is stopping, so dials
  // report Cancelled and hand-offs close their fds). No loop thread is
  // left to race with; what one loop's leftovers send another is taken in
  // the next round.
  for (int round = 0; round < 64; ++round) {
    size_t ran = 0;
    for (auto& loop : loops_) ran += loop->RunLeftovers();
    if (ran == 0) break;
  }
  for (auto& l : listeners_) l->Close();
  if (on_shutdown_) on_shutdown_(*this);
}

void Engine::Stop() {
  // Memory ordering: see stop_requested_ in engine.h. Nothing here
  // allocates or locks, so a signal handler may call it.
  stop_requested_.store(true, std::memory_order_seq_cst);
  for (auto& loop : loops_) loop->mailbox().WakeIfSleeping();
}

void Engine::OnLoopStopped() {
  // When one loop stops for a shutdown action the others must follow.
  if (!stop_requested_.load(std::memory_order_acquire)) Stop();
}

void Engine::ScheduleTick(absl::Duration delay) {
  EventLoop* loop0 = loops_[0].get();
  loop0->timers_.Schedule(
      loop0->now_ns_ + absl::ToInt64Nanoseconds(delay), [this] {
        const absl::Duration next = on_tick_(*this);
        if (next > absl::ZeroDuration() && !stopping()) ScheduleTick(next);
      });
}

absl::Status Engine::Route(uint32_t loop, Envelope&& message) {
  if (loop >= loops_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no loop ", loop, " (engine has ", loops_.size(), ")"));
  }
  EventLoop* current = EventLoop::Current();
  if (current != nullptr && &current->engine() == this) {
    return current->SendFromLoop(loop, std::move(message));
  }
  return loops_[loop]->mailbox().PushForeign(std::move(message));
}

absl::Status Engine::Send(const ActorRef& to, Envelope&& message) {
  if (!to.valid()) return absl::InvalidArgumentError("Send: invalid ActorRef");
  message.set_target(to.target());
  return Route(to.loop, std::move(message));
}

absl::Status Engine::AsyncWrite(const ActorRef& conn, std::string data,
                                WriteCallback done) {
  Envelope e = Envelope::Make<internal::AsyncWriteMsg>(
      conn.target(), std::move(data), std::move(done));
  absl::Status s = Send(conn, std::move(e));
  if (!s.ok()) {
    // Refused: the status reports it; the callback must not report again.
    if (auto* msg = e.As<internal::AsyncWriteMsg>()) msg->done = nullptr;
  }
  return s;
}

absl::Status Engine::Wake(const ActorRef& conn) {
  return Tell<internal::WakeMsg>(conn);
}

absl::Status Engine::Close(const ActorRef& conn) {
  return Tell<internal::CloseMsg>(conn);
}

absl::Status Engine::Dial(absl::string_view url,
                          std::unique_ptr<Handler> handler, DialCallback done,
                          DialOptions options) {
  if (handler == nullptr || done == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("dial ", url, ": needs a handler and a callback"));
  }
  absl::StatusOr<io::Address> address = io::ParseAddress(url);
  if (!address.ok()) return address.status();
  absl::StatusOr<io::SocketAddress> remote = address->Resolve();
  if (!remote.ok()) return remote.status();
  if (!started_) {
    return absl::FailedPreconditionError(
        absl::StrCat("dial ", url, ": start the engine first"));
  }
  return PostDial(*this, PickDialLoop(options.loop), std::move(done),
                  [address = std::move(*address), remote = *remote,
                   handler = std::move(handler), timeout = options.timeout](
                      EventLoop& l, DialCallback callback) mutable {
                    l.Connect(address, remote, std::move(handler),
                              std::move(callback), timeout);
                  });
}

absl::StatusOr<ActorRef> Engine::DialAndWait(absl::string_view url,
                                             std::unique_ptr<Handler> handler,
                                             DialOptions options) {
  if (EventLoop::Current() != nullptr) {
    return absl::FailedPreconditionError(
        "DialAndWait would block an event loop: use Dial");
  }
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  absl::StatusOr<ActorRef> result;
  absl::Status s = Dial(
      url, std::move(handler),
      [&](absl::StatusOr<ActorRef> r) {
        std::lock_guard<std::mutex> lock(mu);
        result = std::move(r);
        ready = true;
        cv.notify_one();
      },
      options);
  if (!s.ok()) return s;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return ready; });
  return result;
}

absl::Status Engine::Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                            DialCallback done, int loop) {
  if (!fd.IsValid() || handler == nullptr || done == nullptr) {
    return absl::InvalidArgumentError("enroll: needs an fd, a handler and a callback");
  }
  if (!started_) return absl::FailedPreconditionError("enroll: start the engine first");
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd.Get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return io::ErrnoStatus(errno, "enroll: getsockopt(SO_TYPE)");
  }
  const int flags = ::fcntl(fd.Get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.Get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return io::ErrnoStatus(errno, "enroll: fcntl(O_NONBLOCK)");
  }
  const bool datagram = type == SOCK_DGRAM;
  return PostDial(*this, PickDialLoop(loop), std::move(done),
                  [fd = std::move(fd), handler = std::move(handler), datagram](
                      EventLoop& l, DialCallback callback) mutable {
                    l.Enroll(std::move(fd), std::move(handler),
                             std::move(callback), datagram);
                  });
}

uint32_t Engine::PickDialLoop(int requested) {
  if (requested >= 0 && requested < num_loops()) {
    return static_cast<uint32_t>(requested);
  }
  if (EventLoop* current = EventLoop::Current();
      current != nullptr && &current->engine() == this) {
    return current->index();
  }
  return next_dial_loop_.fetch_add(1, std::memory_order_relaxed) %
         static_cast<uint32_t>(loops_.size());
}

ActorRef Engine::Spawn(uint32_t loop, std::unique_ptr<Actor> actor) {
  if (loops_.empty()) {
    absl::Status s = CreateLoops();
    ACTNET_CHECK_MSG(s.ok(), "creating loops for Spawn");
  }
  ACTNET_CHECK(loop < loops_.size());
  EventLoop& l = *loops_[loop];
  ACTNET_CHECK_MSG(!started_ || l.IsCurrent(),
                   "Spawn after Start must run on the target loop");
  return l.Spawn(std::move(actor));
}

int64_t Engine::CountConnections() const {
  int64_t total = 0;
  if (loads_ == nullptr) return 0;
  for (size_t i = 0; i < loops_.size(); ++i) {
    total += loads_[i].load(std::memory_order_relaxed);
  }
  return total;
}

std::vector<std::string> Engine::ListenAddresses() const {
  std::vector<std::string> out;
  for (const auto& l : listeners_) {
    io::Address a = l->address();
    if (a.network != io::Network::kUnix) a.port = l->bound_address().port();
    a.options = io::AddressOptions();  // the URL a client would dial
    out.push_back(a.ToString());
  }
  return out;
}

uint64_t Engine::DeadLetters() const {
  uint64_t total = 0;
  for (const auto& l : loops_) total += l->dead_letters();
  return total;
}

std::vector<LoopStats> Engine::Stats() const {
  std::vector<LoopStats> out;
  out.reserve(loops_.size());
  for (const auto& l : loops_) out.push_back(l->stats());
  return out;
}

}  // namespace actnet
