#include "actors/loop_thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <utility>

#include "actors/check.h"

namespace actnet::internal {
namespace {

void SleepNs(int64_t ns) {
  struct timespec ts = {static_cast<time_t>(ns / 1'000'000'000),
                        static_cast<long>(ns % 1'000'000'000)};
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);  // EINTR: wake early
}

}  // namespace

LoopThread::LoopThread(std::vector<LoopActor*> loops,
                       std::unique_ptr<io::Backend> backend,
                       const EngineOptions& options, int cpu, bool shares_cpu)
    : loops_(std::move(loops)),
      backend_(std::move(backend)),
      cpu_(cpu),
      shares_cpu_(shares_cpu),
      busy_poll_ns_(absl::ToInt64Nanoseconds(options.busy_poll)),
      coalesce_(
          busy_poll_ns_ > 0 ? 0 : absl::ToInt64Nanoseconds(options.coalesce),
          options.coalesce_min_busy_percent) {
  ACTNET_CHECK(!loops_.empty() && loops_.size() <= kMaxLoops);
  for (size_t i = 0; i < loops_.size(); ++i) {
    loops_[i]->Attach(backend_.get(), static_cast<uint32_t>(i),
                      i == 0 ? &counters_ : nullptr);
    loops_[i]->mailbox().set_wake_target(backend_->WakeTarget());
  }
}

LoopThread::~LoopThread() { Join(); }

void LoopThread::Start() {
  for (LoopActor* loop : loops_) loop->set_running(true);
  thread_ = std::thread([this] { Run(); });
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    pthread_setaffinity_np(thread_.native_handle(), sizeof(set), &set);
  }
}

void LoopThread::Join() {
  if (!thread_.joinable()) return;
  thread_.join();
  for (LoopActor* loop : loops_) loop->set_running(false);
}

void LoopThread::Run() {
  if (coalesce_.window_ns() > 0) {
    // The default timer slack (50 us) would stretch a window far past its
    // length; an eighth of it is enough for the kernel to batch wake-ups.
    prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(std::max<int64_t>(
                                 1'000, coalesce_.window_ns() / 8)));
  }
  Mailbox::SetThreadBackend(backend_.get());
  for (LoopActor* loop : loops_) {
    SetCurrentLoop(loop);
    loop->Open();
  }
  io::Completion events[kMaxEvents];
  size_t running = loops_.size();
  while (running > 0) {
    const int timeout = GroupTimeout();
    // Coalescing needs the thread's load: the time it spends waiting.
    const int64_t wait_from =
        timeout != 0 && coalesce_.window_ns() > 0 ? MonotonicNs() : -1;
    const int n = WaitForEvents(absl::MakeSpan(events, kMaxEvents), timeout);
    if (timeout != 0) UnparkGroup();
    const int64_t now = MonotonicNs();
    if (coalesce_.window_ns() > 0) {
      // Time yielded to other threads is not this one idling: they ran.
      if (wait_from >= 0) coalesce_.RecordIdle(now - wait_from - yielded_ns_);
      yielded_ns_ = 0;
      coalesce_.Observe(now);
    }
    for (LoopActor* loop : loops_) loop->BeginIteration(now);
    DispatchAll(absl::MakeConstSpan(events, static_cast<size_t>(n)));
    for (LoopActor* loop : loops_) {
      if (loop->stopped()) continue;
      SetCurrentLoop(loop);
      if (loop->FinishIteration()) --running;
    }
  }
  SetCurrentLoop(nullptr);
  Mailbox::SetThreadBackend(nullptr);
  backend_->Quiesce(kQuiesceMs);
}

void LoopThread::DispatchAll(absl::Span<const io::Completion> events) {
  if (loops_.size() == 1) {
    // One loop: Current() is already it; Dispatch skips what is stale.
    for (const io::Completion& c : events) backend_->Dispatch(c);
    return;
  }
  for (const io::Completion& c : events) {
    const uint32_t owner = backend_->OwnerOf(c);
    if (owner == io::Backend::kNoOwner) continue;
    LoopActor* loop = loops_[owner];
    if (loop->stopped()) continue;
    SetCurrentLoop(loop);
    backend_->Dispatch(c);
  }
}

int LoopThread::GroupTimeout() {
  if (backend_->HasPending()) return 0;
  int timeout = -1;
  for (LoopActor* loop : loops_) {
    if (loop->stopped()) continue;
    const int t = loop->ParkTimeout();
    if (t == 0) {
      UnparkGroup();  // the loops before this one parked
      return 0;
    }
    if (t > 0 && (timeout < 0 || t < timeout)) timeout = t;
  }
  return timeout;
}

void LoopThread::UnparkGroup() {
  for (LoopActor* loop : loops_) loop->Unpark();
}

bool LoopThread::GroupHasPending() const {
  for (const LoopActor* loop : loops_) {
    if (!loop->stopped() && loop->HasPendingMessages()) return true;
  }
  return false;
}

int LoopThread::PollMore(absl::Span<io::Completion> events, int ready) {
  counters_.polls.Add();
  return backend_->PollMore(events, ready);
}

int LoopThread::WaitForEvents(absl::Span<io::Completion> events, int timeout) {
  if (timeout != 0 && busy_poll_ns_ > 0) {
    // Parked already: a message still arrives as the mailbox wake-up's
    // completion, which the zero-timeout polls report like any other.
    const int64_t until = MonotonicNs() + busy_poll_ns_;
    do {
      const int n = Poll(events, 0);
      if (n != 0) return n;
    } while (MonotonicNs() < until);
  } else if (timeout != 0 && coalesce_.ShouldCoalesce()) {
    return Coalesce(events, timeout);
  }
  return Poll(events, timeout);
}

// A loaded thread that would block with only a trickle ready sleeps a
// window first, unparked and not waiting on the backend, so what arrives
// meanwhile wakes nobody; then it takes everything at once (coalesce.h).
int LoopThread::Coalesce(absl::Span<io::Completion> events, int timeout) {
  int n = Poll(events, 0);
  if (n >= CoalescePolicy::kTrickle) return n;  // saturated: never sleep
  // Unparked for the window: other loops' messages meanwhile are taken
  // after it without a wake-up write each.
  UnparkGroup();
  bool window = true;
  if (shares_cpu_) {
    // Threads sharing a CPU: a timer window would end while another runs
    // and preempt it. So the others run their pass first (yield returns at
    // once if none is runnable); only if that still leaves a trickle, which
    // says the CPU is not contended, does this one sleep a window.
    const int64_t from = MonotonicNs();
    sched_yield();
    counters_.yields.Add();
    yielded_ns_ = MonotonicNs() - from;
    n = PollMore(events, n);
    window = n + (GroupHasPending() ? 1 : 0) < CoalescePolicy::kTrickle;
  }
  if (window) {
    int64_t window_ns = coalesce_.sleep_ns();
    if (timeout > 0)
      window_ns = std::min<int64_t>(window_ns, int64_t{timeout} * 1'000'000);
    SleepNs(window_ns);
    counters_.windows.Add();
    n = PollMore(events, n);
  }
  const bool messages = GroupHasPending();
  coalesce_.Gathered(n + (messages ? 1 : 0));
  if (n != 0 || messages) return n;
  // Nothing came: park again (re-checking the stop flag and the next
  // deadline) and block.
  timeout = GroupTimeout();
  return timeout == 0 ? 0 : Poll(events, timeout);
}

int LoopThread::Poll(absl::Span<io::Completion> events, int timeout) {
  counters_.polls.Add();
  if (timeout != 0) counters_.blocks.Add();
  return backend_->Poll(events, timeout);
}

}  // namespace actnet::internal
