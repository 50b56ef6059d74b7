#include "perf/loadgen/load_thread.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace actnet::perf {
namespace {

constexpr size_t kReadBuffer = 256 * 1024;
constexpr int kMaxIov = 64;
constexpr size_t kMaxBacklog = 4096;  // paced requests waiting per connection
constexpr uint64_t kTimerTag = ~uint64_t{0};

}  // namespace

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

Pattern::Pattern(uint32_t size) : bytes_(size + kPatternShifts) {
  uint64_t x = 0x9E3779B97F4A7C15ull;  // splitmix64, fixed seed: runs are comparable
  for (uint8_t& b : bytes_) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    b = static_cast<uint8_t>(z ^ (z >> 31));
  }
}

struct LoadThread::Conn {
  int fd = -1;
  uint32_t id = 0;
  size_t index = 0;          // position in conns_
  uint64_t issued = 0;       // requests issued (written or waiting to be)
  uint64_t sent_bytes = 0;   // stream bytes written
  uint64_t recv_bytes = 0;   // stream bytes echoed and checked
  std::vector<uint64_t> issued_at;  // ring of `depth` issue times
  std::deque<uint64_t> backlog;     // paced mode: scheduled times not yet issued
  bool want_out = false;
  bool dead = false;
};

LoadThread::LoadThread(const LoadConfig& config, const Pattern& pattern)
    : config_(config), pattern_(pattern), rbuf_(kReadBuffer) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (config_.rate > 0) {
    timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &ev);
  }
}

LoadThread::~LoadThread() {
  for (auto& c : conns_) {
    if (c->fd >= 0) close(c->fd);
  }
  if (timerfd_ >= 0) close(timerfd_);
  if (epfd_ >= 0) close(epfd_);
}

void LoadThread::Adopt(int fd, uint32_t id) {
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->id = id;
  c->index = conns_.size();
  c->issued_at.assign(config_.depth, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = c->index;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  conns_.push_back(std::move(c));
}

void LoadThread::Issue(Conn& c, uint64_t issued_at) {
  c.issued_at[c.issued % config_.depth] = issued_at;
  ++c.issued;
}

void LoadThread::SetWantOut(Conn& c, bool on) {
  if (c.want_out == on) return;
  c.want_out = on;
  epoll_event ev{};
  ev.events = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u64 = c.index;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void LoadThread::Fail(Conn& c, bool verify_error) {
  if (c.dead) return;
  c.dead = true;
  ++(verify_error ? result_.verify_errors : result_.conn_errors);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.fd = -1;
}

// Writes every issued byte not yet written; a short write waits for EPOLLOUT.
void LoadThread::Flush(Conn& c) {
  const uint64_t size = config_.size;
  const uint64_t target = c.issued * size;
  while (!c.dead && c.sent_bytes < target) {
    iovec iov[kMaxIov];
    int n_iov = 0;
    for (uint64_t at = c.sent_bytes; at < target && n_iov < kMaxIov; ++n_iov) {
      uint64_t m = at / size, i = at % size;
      iov[n_iov].iov_base = const_cast<uint8_t*>(pattern_.Request(c.id, m) + i);
      iov[n_iov].iov_len = size - i;
      at += size - i;
    }
    ssize_t n = writev(c.fd, iov, n_iov);
    if (n > 0) {
      c.sent_bytes += static_cast<uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      SetWantOut(c, true);
      return;
    } else {
      Fail(c, false);
      return;
    }
  }
  if (!c.dead) SetWantOut(c, false);
}

// Checks echoed bytes against what was sent and completes whole requests.
// Returns false (and closes the connection) on a mismatch or surplus bytes.
bool LoadThread::Consume(Conn& c, const uint8_t* data, size_t n, uint64_t now) {
  const uint64_t size = config_.size;
  if (c.recv_bytes + n > c.sent_bytes) {
    std::fprintf(stderr, "loadgen: conn %u: %zu bytes more than were sent\n", c.id,
                 static_cast<size_t>(c.recv_bytes + n - c.sent_bytes));
    Fail(c, true);
    return false;
  }
  const bool paced = config_.rate > 0;
  const bool in_window = InWindow(now);
  while (n > 0) {
    uint64_t m = c.recv_bytes / size, i = c.recv_bytes % size;
    size_t k = static_cast<size_t>(std::min<uint64_t>(size - i, n));
    if (config_.verify && std::memcmp(data, pattern_.Request(c.id, m) + i, k) != 0) {
      if (result_.verify_errors == 0) {
        std::fprintf(stderr, "loadgen: conn %u: echo of request %llu differs at byte %llu\n",
                     c.id, static_cast<unsigned long long>(m),
                     static_cast<unsigned long long>(i));
      }
      Fail(c, true);
      return false;
    }
    c.recv_bytes += k;
    data += k;
    n -= k;
    if (i + k < size) break;
    // Closed loop: completions inside the window. Paced: requests
    // scheduled inside it, whenever they complete.
    const uint64_t issued_at = c.issued_at[m % config_.depth];
    if (paced ? InWindow(issued_at) : in_window) {
      result_.hist.Record(now - issued_at);
      ++result_.ops;
    }
    if (config_.rate <= 0) {
      Issue(c, now);
    } else if (!c.backlog.empty()) {
      Issue(c, c.backlog.front());
      c.backlog.pop_front();
    }
  }
  return true;
}

void LoadThread::OnReadable(Conn& c) {
  for (;;) {
    ssize_t n = read(c.fd, rbuf_.data(), rbuf_.size());
    if (n > 0) {
      if (!Consume(c, rbuf_.data(), static_cast<size_t>(n), NowNs())) return;
      if (static_cast<size_t>(n) < rbuf_.size()) break;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      break;
    } else {
      if (n == 0) std::fprintf(stderr, "loadgen: conn %u: closed by the server\n", c.id);
      Fail(c, false);
      return;
    }
  }
  Flush(c);
}

// Paced mode: issue every request whose scheduled time has come, round-robin
// over this thread's connections.
void LoadThread::OnTimer(uint64_t now) {
  uint64_t expirations;
  (void)!read(timerfd_, &expirations, sizeof expirations);
  IssueDue(now);
  ArmTimer();
}

void LoadThread::IssueDue(uint64_t now) {
  const double interval = 1e9 / config_.rate;
  while (next_due_ <= now && next_due_ < config_.end_ns) {
    Conn& c = *conns_[paced_count_ % conns_.size()];
    if (!c.dead) {
      uint64_t in_flight = c.issued - c.recv_bytes / config_.size;
      if (in_flight < config_.depth && c.backlog.empty()) {
        Issue(c, next_due_);
        Flush(c);
      } else if (c.backlog.size() < kMaxBacklog) {
        c.backlog.push_back(next_due_);
      } else {
        ++result_.backlog_drops;
      }
    }
    if (InWindow(next_due_)) ++result_.scheduled;
    ++paced_count_;
    next_due_ = config_.start_ns + static_cast<uint64_t>(static_cast<double>(paced_count_) * interval);
  }
}

// Paced mode, at the end of the drain: the window's requests still waiting
// for their echo (in flight or in a backlog) count at their age now.
void LoadThread::RecordUnfinished(uint64_t now) {
  for (auto& c : conns_) {
    if (c->dead) continue;
    const uint64_t done = c->recv_bytes / config_.size;
    for (uint64_t m = done; m < c->issued; ++m) {
      const uint64_t t = c->issued_at[m % config_.depth];
      if (!InWindow(t)) continue;
      result_.hist.Record(now - t);
      ++result_.unfinished;
    }
    for (uint64_t t : c->backlog) {
      if (!InWindow(t)) continue;
      result_.hist.Record(now - t);
      ++result_.unfinished;
    }
  }
}

// Paced mode: requests scheduled inside the window and not yet echoed.
uint64_t LoadThread::Outstanding() const {
  uint64_t n = 0;
  for (const auto& c : conns_) {
    if (c->dead) continue;
    const uint64_t done = c->recv_bytes / config_.size;
    for (uint64_t m = done; m < c->issued; ++m) n += InWindow(c->issued_at[m % config_.depth]);
    for (uint64_t t : c->backlog) n += InWindow(t);
  }
  return n;
}

void LoadThread::ArmTimer() {
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(next_due_ / 1000000000u);
  its.it_value.tv_nsec = static_cast<long>(next_due_ % 1000000000u);
  timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

void LoadThread::Run() {
  if (config_.rate > 0) {
    next_due_ = config_.start_ns;
    OnTimer(NowNs());
  } else {
    uint64_t now = NowNs();
    for (auto& c : conns_) {
      for (uint32_t k = 0; k < config_.depth; ++k) Issue(*c, now);
      Flush(*c);
    }
  }
  epoll_event events[256];
  const bool paced = config_.rate > 0;
  // Paced mode keeps reading after the window until the window's requests
  // are all answered, or drain_ns has passed.
  const uint64_t stop_ns = config_.end_ns + (paced ? config_.drain_ns : 0);
  for (;;) {
    uint64_t now = NowNs();
    if (now >= stop_ns) break;
    if (paced && now >= config_.end_ns && Outstanding() == 0) break;
    int timeout_ms = static_cast<int>(std::min<uint64_t>(
        100, ((now < config_.end_ns ? config_.end_ns : stop_ns) - now) / 1000000 + 1));
    int n = epoll_wait(epfd_, events, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerTag) {
        OnTimer(NowNs());
        continue;
      }
      Conn& c = *conns_[events[i].data.u64];
      if (c.dead) continue;
      if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) OnReadable(c);
      if (!c.dead && (events[i].events & EPOLLOUT)) Flush(c);
    }
    // Requests that fell due while the events were handled go out now
    // rather than after another timer wake-up.
    if (paced && n > 0) {
      const uint64_t t = NowNs();
      if (next_due_ <= t && next_due_ < config_.end_ns) {
        IssueDue(t);
        ArmTimer();
      }
    }
  }
  if (paced) RecordUnfinished(NowNs());
  for (auto& c : conns_) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
}

}  // namespace actnet::perf
