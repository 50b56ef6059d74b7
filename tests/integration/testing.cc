#include "tests/integration/testing.h"

#include <sys/resource.h>

#include <thread>

#include "doctest/doctest.h"

namespace actnet::integration {

int64_t RaiseFdLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return -1;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return -1;
  }
  return static_cast<int64_t>(lim.rlim_cur);
}

void ConnLog::Opened(const ActorRef& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  opened_.push_back(ref);
}

void ConnLog::Closed(const ActorRef& ref, const CloseReason& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  reasons_.push_back(reason);
}

int ConnLog::opens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(opened_.size());
}

int ConnLog::closes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(reasons_.size());
}

std::vector<ActorRef> ConnLog::opened_refs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opened_;
}

std::vector<CloseReason> ConnLog::reasons() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reasons_;
}

bool ConnLog::WaitOpens(int n, Clock::duration timeout) const {
  return WaitFor([this, n] { return opens() >= n; }, timeout);
}

bool ConnLog::WaitCloses(int n, Clock::duration timeout) const {
  return WaitFor([this, n] { return closes() >= n; }, timeout);
}

bool WaitWithin(Engine& engine, Clock::duration timeout) {
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    engine.Wait();
    returned.store(true);
  });
  const bool in_time = WaitFor([&] { return returned.load(); }, timeout);
  if (!in_time) engine.Stop();
  waiter.join();
  return in_time;
}

LoopBlocker::LoopBlocker(Engine& engine, uint32_t loop) {
  auto running = running_;
  auto release = release_;
  const absl::Status s = engine.Post(loop, [running, release](EventLoop&) {
    running->store(1);
    WaitFor([&] { return release->load(); }, seconds(10));
    running->store(2);
  });
  if (s.ok()) WaitFor([this] { return running_->load() != 0; });
}

EngineOptions Loops(int n) {
  EngineOptions o;
  o.loops = n;
  return o;
}

OneCpu::OneCpu() {
  REQUIRE(sched_getaffinity(0, sizeof(saved_), &saved_) == 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
}

OneCpu::~OneCpu() { sched_setaffinity(0, sizeof(saved_), &saved_); }

std::string FirstAddress(const Engine& engine) {
  std::vector<std::string> all = engine.ListenAddresses();
  return all.empty() ? std::string() : all.front();
}

}  // namespace actnet::integration
