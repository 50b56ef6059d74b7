// Engine: configuration, the loops and their threads, stopping, messages
// and statistics. The client side (Dial, Enroll) is in engine_client.cc.
#include "actors/engine.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/check.h"
#include "actors/conn_messages.h"
#include "actors/listener.h"
#include "actors/loop_actor.h"
#include "actors/loop_thread.h"
#include "io/address.h"
#include "io/epoll_backend.h"
#include "io/uring_backend.h"
#include "io/uring_probe.h"
#include "tls/tls_context.h"

namespace actnet {
namespace {

// The CPUs this process may run on (its affinity), or every online CPU if
// that cannot be read.
int AllowedCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
    return CPU_COUNT(&set);
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Which loops each thread runs, and where.
struct ThreadPlan {
  std::vector<uint32_t> loops;
  int cpu;          // -1: not pinned
  bool shares_cpu;  // other threads of the engine can only run on its CPU(s)
};

// Loops share CPUs when there are more of them than CPUs they may run on:
// pinned, when another loop is pinned to the same CPU; unpinned, when the
// process's affinity (taskset, cgroup cpusets) allows fewer CPUs than
// loops. With co-hosting, one thread per CPU runs the loops that would
// share it (loop i on thread i % threads, pinned to CPU i % cpus when
// pinning); otherwise each loop has its own thread.
std::vector<ThreadPlan> PlanThreads(const EngineOptions& options, int loops) {
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  const bool pinned = options.pin_cpus && cpus > 0;
  const int allowed = AllowedCpus();
  const int capacity = std::max(1, pinned ? cpus : allowed);
  std::vector<ThreadPlan> plan;
  if (options.cohost_loops && loops > capacity) {
    const int per_thread = static_cast<int>(internal::LoopThread::kMaxLoops);
    const int threads =
        std::max(capacity, (loops + per_thread - 1) / per_thread);
    for (int h = 0; h < threads; ++h) {
      ThreadPlan p{{}, pinned ? h % cpus : -1, threads > capacity};
      for (int i = h; i < loops; i += threads)
        p.loops.push_back(static_cast<uint32_t>(i));
      plan.push_back(std::move(p));
    }
    return plan;
  }
  for (int i = 0; i < loops; ++i) {
    // Loops pinned to CPU c: one per full round of `cpus`, plus one if c
    // comes before the remainder.
    const int on_my_cpu =
        pinned ? loops / cpus + ((i % cpus) < loops % cpus ? 1 : 0) : 0;
    plan.push_back(ThreadPlan{{static_cast<uint32_t>(i)},
                              pinned ? i % cpus : -1,
                              pinned ? on_my_cpu > 1 : loops > allowed});
  }
  return plan;
}

// The backend to run: ACTNET_BACKEND over the configured one; auto (or an
// explicit io_uring the kernel cannot run: an error) resolved by the probe.
absl::StatusOr<IoBackend> ResolveBackend(IoBackend configured) {
  IoBackend wanted = configured;
  const char* env = getenv("ACTNET_BACKEND");
  if (env != nullptr && *env != '\0' && !ParseIoBackend(env, &wanted)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ACTNET_BACKEND=", env, ": expected epoll, io_uring or auto"));
  }
  if (wanted == IoBackend::kEpoll) return wanted;
  const absl::Status probe = io::ProbeIoUring();
  if (probe.ok()) return IoBackend::kIoUring;
  if (wanted == IoBackend::kIoUring) {
    return absl::Status(probe.code(),
                        absl::StrCat("io_uring backend: ", probe.message()));
  }
  fprintf(stderr, "actnet: io_uring unavailable (%s); using epoll\n",
          std::string(probe.message()).c_str());
  return IoBackend::kEpoll;
}

absl::StatusOr<std::unique_ptr<io::Backend>> MakeBackend(
    const EngineOptions& options) {
  if (options.backend == IoBackend::kIoUring) {
    io::UringBackendOptions uo;
    uo.close_linger = options.close_linger;
    uo.buffer_size = options.uring_buffer_size;
    uo.buffer_count = options.uring_buffer_count;
    uo.send_zc_min = options.uring_send_zc_min;
    absl::StatusOr<std::unique_ptr<io::UringBackend>> b =
        io::UringBackend::Create(uo);
    if (!b.ok()) return b.status();
    return std::unique_ptr<io::Backend>(std::move(*b));
  }
  io::EpollBackendOptions eo;
  eo.edge_triggered = options.edge_triggered;
  eo.read_buffer_size = options.read_buffer_size;
  absl::StatusOr<std::unique_ptr<io::EpollBackend>> b =
      io::EpollBackend::Create(eo);
  if (!b.ok()) return b.status();
  return std::unique_ptr<io::Backend>(std::move(*b));
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(std::move(options)) {
  if (options_.loops <= 0) options_.loops = AllowedCpus();
}

Engine::~Engine() {
  if (started_ && !joined_) {
    Stop();
    Wait();
  }
  threads_.clear();
  // Loops (and their mailboxes) go before the sockets they serve.
  loops_.clear();
  for (auto& l : listen_sockets_) l->Close();
}

EventLoop& Engine::loop(int i) { return *loops_[static_cast<size_t>(i)]; }

absl::Status Engine::Listen(absl::string_view url, HandlerFactory factory) {
  return AddListen(url, std::move(factory), nullptr);
}

absl::Status Engine::Listen(absl::string_view url, HandlerFactory factory,
                            const TlsOptions& tls) {
  return AddListen(url, std::move(factory), &tls);
}

absl::Status Engine::CheckTls(const TlsOptions& tls, bool server) {
  return tls::TlsContext::Create(tls, server ? tls::Role::kServer
                                             : tls::Role::kClient)
      .status();
}

absl::Status Engine::AddListen(absl::string_view url, HandlerFactory factory,
                               const TlsOptions* tls) {
  if (started_) {
    return absl::FailedPreconditionError(
        absl::StrCat("Listen(", url, "): the engine is already running"));
  }
  if (factory == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Listen(", url, "): no handler factory"));
  }
  bool is_tls = false;
  const std::string tcp_url = tls::TcpUrlOf(url, &is_tls);
  if (!is_tls && tls != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Listen(", url, "): TLS options for a non-tls:// URL"));
  }
  absl::StatusOr<io::Address> address = io::ParseAddress(tcp_url);
  if (!address.ok()) return address.status();
  std::shared_ptr<tls::TlsContext> context;
  if (is_tls) {
    absl::StatusOr<std::shared_ptr<tls::TlsContext>> made =
        tls::TlsContext::Create(tls != nullptr ? *tls : options_.tls,
                                tls::Role::kServer);
    if (!made.ok()) {
      return absl::Status(made.status().code(),
                          absl::StrCat("Listen(", url, "): ",
                                       made.status().message()));
    }
    context = std::move(*made);
  }
  listen_sockets_.push_back(std::make_unique<internal::ListenSocket>(
      std::move(*address), std::move(factory)));
  listen_sockets_.back()->set_tls(std::move(context));
  return absl::OkStatus();
}

absl::Status Engine::CreateLoops() {
  const size_t n = static_cast<size_t>(options_.loops);
  loads_.reset(new std::atomic<int64_t>[n]);
  for (size_t i = 0; i < n; ++i) loads_[i].store(0);
  MailboxOptions mo;
  mo.lane_capacity = options_.mailbox_capacity;
  mo.senders = n;
  mo.batch = options_.mailbox_batch;
  mo.foreign_limit = options_.foreign_queue_limit;
  std::vector<Mailbox*> mailboxes;
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<std::unique_ptr<Mailbox>> mailbox = Mailbox::Create(mo);
    if (!mailbox.ok()) return mailbox.status();
    mailboxes.push_back(mailbox->get());
    internal::LoopLink link;
    link.engine = this;
    link.stop_requested = &stop_requested_;
    link.loads = absl::MakeSpan(loads_.get(), n);
    link.admitted = &admitted_;
    link.request_stop = [this] { Stop(); };
    link.on_stopped = [this] { OnLoopStopped(); };
    loops_.push_back(std::make_unique<internal::LoopActor>(
        static_cast<uint32_t>(i), options_, std::move(link),
        std::move(*mailbox)));
  }
  for (auto& loop : loops_) loop->SetOutboxes(mailboxes);
  return absl::OkStatus();
}

absl::Status Engine::StartThreads() {
  absl::StatusOr<IoBackend> backend = ResolveBackend(options_.backend);
  if (!backend.ok()) return backend.status();
  options_.backend = *backend;
  for (const auto& p : PlanThreads(options_, static_cast<int>(loops_.size()))) {
    absl::StatusOr<std::unique_ptr<io::Backend>> made = MakeBackend(options_);
    if (!made.ok()) return made.status();
    std::vector<internal::LoopActor*> loops;
    for (uint32_t i : p.loops) loops.push_back(loops_[i].get());
    threads_.push_back(std::make_unique<internal::LoopThread>(
        std::move(loops), std::move(*made), options_, p.cpu, p.shares_cpu));
  }
  for (auto& t : threads_) t->Start();
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
  for (auto& l : listen_sockets_) {
    absl::Status s = l->Bind(options_.loops);
    if (!s.ok()) {
      for (auto& other : listen_sockets_) other->Close();
      return s;
    }
  }
  for (auto& l : listen_sockets_) {
    for (int i = 0; i < options_.loops; ++i) {
      if (l->per_loop() || i == 0) {
        loops_[static_cast<size_t>(i)]->AddListenSocket(l.get(),
                                                        l->fd_for_loop(i));
      }
    }
  }
  if (on_tick_) {
    (void)Post(0, [this, first = first_tick_](EventLoop& l) {
      ScheduleTick(l, first);
    });
  }
  // Started before the threads run: their handlers may Dial at once.
  started_ = true;
  absl::Status s = StartThreads();
  if (!s.ok()) {  // no thread was started
    started_ = false;
    threads_.clear();
    for (auto& l : listen_sockets_) l->Close();
    return s;
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
  for (auto& t : threads_) t->Join();
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
  for (auto& l : listen_sockets_) l->Close();
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

void Engine::ScheduleTick(EventLoop& loop, absl::Duration delay) {
  loop.RunAfter(delay, [this, &loop] {
    const absl::Duration next = on_tick_(*this);
    if (next > absl::ZeroDuration() && !stopping()) ScheduleTick(loop, next);
  });
}

// ---------------------------------------------------------------------------
// Messages.

absl::Status Engine::Route(uint32_t loop, Envelope&& message, bool bounded) {
  if (loop >= loops_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no loop ", loop, " (engine has ", loops_.size(), ")"));
  }
  if (EventLoop* current = CallingLoop()) {
    return static_cast<internal::LoopActor*>(current)->SendFromLoop(
        loop, std::move(message), bounded);
  }
  return loops_[loop]->PushForeign(std::move(message), bounded);
}

absl::Status Engine::Send(const ActorRef& to, Envelope&& message) {
  if (!to.valid()) return absl::InvalidArgumentError("Send: invalid ActorRef");
  message.set_target(to.target());
  // On the target's own loop its death is known now: say so. Elsewhere it
  // is found out on arrival and counted as a dead letter.
  if (EventLoop* here = HomeLoopOf(to); here != nullptr && here->Find(to) == nullptr) {
    return absl::NotFoundError(absl::StrCat("Send: ", to.ToString(), " is dead"));
  }
  return Route(to.loop, std::move(message));
}

absl::Status Engine::SendBuilt(const ActorRef& to,
                               absl::FunctionRef<void(Envelope&)> build) {
  if (to.valid() && to.loop < loops_.size()) {
    EventLoop* current = CallingLoop();
    if (current != nullptr && current->index() != to.loop &&
        static_cast<internal::LoopActor*>(current)->TryBuildFromLoop(to.loop,
                                                                     build)) {
      return absl::OkStatus();
    }
  }
  Envelope e;
  build(e);
  return Send(to, std::move(e));
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

ActorRef Engine::Spawn(uint32_t loop, std::unique_ptr<Actor> actor) {
  if (loops_.empty()) {
    absl::Status s = CreateLoops();
    ACTNET_CHECK_MSG(s.ok(), "creating loops for Spawn");
  }
  ACTNET_CHECK(loop < loops_.size());
  internal::LoopActor& l = *loops_[loop];
  ACTNET_CHECK_MSG(!started_ || l.IsCurrent(),
                   "Spawn after Start must run on the target loop");
  return l.Spawn(std::move(actor));
}

// ---------------------------------------------------------------------------
// Introspection.

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
  for (const auto& l : listen_sockets_) {
    io::Address a = l->address();
    if (a.network != io::Network::kUnix) a.port = l->bound_address().port();
    a.options = io::AddressOptions();  // the URL a client would dial
    out.push_back(l->tls() != nullptr ? tls::TlsUrlOf(a.ToString())
                                      : a.ToString());
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
  for (const auto& l : loops_) out.push_back(l->Stats());
  return out;
}

}  // namespace actnet
