#include "tests/integration/testing.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <utility>

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

namespace {

// Resolves a listen URL into a sockaddr; false if it cannot.
bool ParseUrl(const std::string& url, sockaddr_storage* ss, socklen_t* len,
              int* family) {
  std::memset(ss, 0, sizeof(*ss));
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string scheme = url.substr(0, scheme_end);
  std::string rest = url.substr(scheme_end + 3);
  if (const size_t q = rest.find('?'); q != std::string::npos) rest.resize(q);
  if (scheme == "unix") {
    auto* sun = reinterpret_cast<sockaddr_un*>(ss);
    if (rest.size() + 1 > sizeof(sun->sun_path)) return false;
    sun->sun_family = AF_UNIX;
    std::memcpy(sun->sun_path, rest.data(), rest.size());
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                  rest.size() + 1);
    *family = AF_UNIX;
    return true;
  }
  std::string host;
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size()) return false;
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos) return false;
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  const int p = std::atoi(port.c_str());
  if (p <= 0 || p > 65535) return false;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(p));
    *len = sizeof(sockaddr_in6);
    *family = AF_INET6;
    return true;
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(ss);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  if (::inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) return false;
  in4->sin_family = AF_INET;
  in4->sin_port = htons(static_cast<uint16_t>(p));
  *len = sizeof(sockaddr_in);
  *family = AF_INET;
  return true;
}

}  // namespace

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    last_error_ = other.last_error_;
    other.fd_ = -1;
  }
  return *this;
}

Client Client::Connect(const std::string& url, std::string* error,
                       Clock::duration timeout, int rcvbuf) {
  auto fail = [error, &url](const char* what, int err) {
    if (error != nullptr) {
      *error = url + ": " + what + ": " + std::strerror(err);
    }
    return Client();
  };
  sockaddr_storage ss;
  socklen_t len = 0;
  int family = 0;
  if (!ParseUrl(url, &ss, &len, &family)) return fail("parse", EINVAL);
  const int fd =
      ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", errno);
  Client c(fd);
  if (rcvbuf > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) return fail("connect", errno);
    if (!c.WaitReady(POLLOUT, Clock::now() + timeout)) {
      return fail("connect (wait)", c.last_error_);
    }
    int err = 0;
    socklen_t elen = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return fail("connect", err);
  }
  if (family != AF_UNIX) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
  }
  return c;
}

bool Client::WaitReady(short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(
                          deadline - Clock::now())
                          .count();
    if (left <= 0) {
      last_error_ = ETIMEDOUT;
      return false;
    }
    pollfd p{fd_, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left > 1000 ? 1000 : left));
    if (n < 0) {
      if (errno == EINTR) continue;
      last_error_ = errno;
      return false;
    }
    if (n > 0) return true;  // readiness, or an error the next call reports
  }
}

bool Client::SendAll(std::string_view data, Clock::time_point deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent,
                             MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitReady(POLLOUT, deadline)) return false;
      continue;
    }
    last_error_ = n < 0 ? errno : EPIPE;
    return false;
  }
  return true;
}

ssize_t Client::RecvSome(size_t max, std::string* out,
                         Clock::time_point deadline) {
  char buf[64 * 1024];
  if (max > sizeof(buf)) max = sizeof(buf);
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, max, 0);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!WaitReady(POLLIN, deadline)) return -1;
      continue;
    }
    last_error_ = errno;
    return -1;
  }
}

bool Client::RecvExactly(size_t n, std::string* out,
                         Clock::time_point deadline) {
  const size_t target = out->size() + n;
  while (out->size() < target) {
    const ssize_t got = RecvSome(target - out->size(), out, deadline);
    if (got <= 0) {
      if (got == 0) last_error_ = ECONNRESET;
      return false;
    }
  }
  return true;
}

bool Client::RecvUntilEof(std::string* out, Clock::time_point deadline) {
  for (;;) {
    const ssize_t got = RecvSome(64 * 1024, out, deadline);
    if (got == 0) return true;
    if (got < 0) return false;
  }
}

bool Client::RoundTrip(std::string_view data, Clock::time_point deadline) {
  if (!SendAll(data, deadline)) return false;
  std::string back;
  back.reserve(data.size());
  if (!RecvExactly(data.size(), &back, deadline)) return false;
  return back == data;
}

void Client::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Client::ResetClose() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  Close();
}

void Client::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
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
