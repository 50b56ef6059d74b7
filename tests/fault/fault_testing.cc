#include "tests/fault/fault_testing.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "doctest/doctest.h"

namespace actnet::fault {

std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = PatternByte(i);
  return out;
}

absl::string_view PatternView(size_t n) {
  static const std::string* const all = new std::string(Pattern(kMaxPatternView));
  return absl::string_view(*all).substr(0, n);
}

const char* EndName(End e) {
  switch (e) {
    case End::kEof:
      return "eof";
    case End::kReset:
      return "reset";
    case End::kTimeout:
      return "timeout";
    case End::kError:
      return "error";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Sock

Sock& Sock::operator=(Sock&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Sock Sock::Unconnected() {
  return Sock(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

Sock Sock::Connect(int port, Clock::time_point deadline, int* error, int rcvbuf) {
  Sock s = Unconnected();
  if (!s.valid()) {
    if (error != nullptr) *error = errno;
    return s;
  }
  if (rcvbuf > 0) {
    ::setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  if (!s.ConnectTo(port, deadline, error)) s.Close();
  return s;
}

bool Sock::ConnectTo(int port, Clock::time_point deadline, int* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int err = 0;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    err = errno;
    if (err == EINPROGRESS || err == EALREADY) {
      err = 0;
      if (!WaitReady(POLLOUT, deadline)) {
        err = last_error_;
      } else {
        socklen_t len = sizeof(err);
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    } else if (err == EISCONN) {
      err = 0;
    }
  }
  if (err == 0) {
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  last_error_ = err;
  if (error != nullptr) *error = err;
  return err == 0;
}

bool Sock::WaitReady(short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      last_error_ = ETIMEDOUT;
      return false;
    }
    pollfd p{fd_, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1000)));
    if (n > 0) return true;  // errors and hang-ups surface in the next call
    if (n < 0 && errno != EINTR) {
      last_error_ = errno;
      return false;
    }
  }
}

ssize_t Sock::SendSome(std::string_view data, Clock::time_point deadline) {
  for (;;) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EAGAIN && errno != EINTR) {
      last_error_ = errno;
      return -1;
    }
    if (!WaitReady(POLLOUT, deadline)) return -1;
  }
}

bool Sock::SendAll(std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = SendSome(data, deadline);
    if (n < 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

ssize_t Sock::RecvSome(size_t max, std::string* out, Clock::time_point deadline) {
  char buf[64 * 1024];
  const size_t want = std::min(max, sizeof(buf));
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, want, 0);
    if (n > 0) {
      if (out != nullptr) out->append(buf, static_cast<size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno != EAGAIN && errno != EINTR) {
      last_error_ = errno;
      return -1;
    }
    if (!WaitReady(POLLIN, deadline)) return -1;
  }
}

bool Sock::RecvExactly(size_t n, std::string* out, Clock::time_point deadline) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = RecvSome(n - got, out, deadline);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool Sock::RoundTrip(std::string_view data, Clock::time_point deadline) {
  if (!SendAll(data, deadline)) return false;
  std::string back;
  return RecvExactly(data.size(), &back, deadline) && back == data;
}

End Sock::ReadUntilClosed(std::string* out, size_t* bytes, Clock::time_point deadline) {
  for (;;) {
    const ssize_t r = RecvSome(64 * 1024, out, deadline);
    if (r == 0) return End::kEof;
    if (r < 0) {
      if (last_error_ == ECONNRESET) return End::kReset;
      if (last_error_ == ETIMEDOUT) return End::kTimeout;
      return End::kError;
    }
    if (bytes != nullptr) *bytes += static_cast<size_t>(r);
  }
}

End Sock::WaitClosedEmpty(Clock::time_point deadline) {
  std::string got;
  const ssize_t r = RecvSome(1, &got, deadline);
  if (r == 0) return End::kEof;
  if (r > 0) return End::kError;
  if (last_error_ == ECONNRESET) return End::kReset;
  return last_error_ == ETIMEDOUT ? End::kTimeout : End::kError;
}

void Sock::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Sock::ResetClose() {
  if (fd_ < 0) return;
  const linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  Close();
}

void Sock::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Sock::MoveAbove(int min_fd) {
  const int moved = ::fcntl(fd_, F_DUPFD_CLOEXEC, min_fd);
  if (moved < 0) return false;
  ::close(fd_);
  fd_ = moved;
  return true;
}

// ---------------------------------------------------------------------------
// Lifecycle

void Lifecycle::Opened() {
  std::lock_guard<std::mutex> lock(mu_);
  ++opens_;
}

void Lifecycle::Closed(const CloseReason& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++closes_;
    ++by_kind_[reason.kind];
  }
  cv_.notify_all();
}

int Lifecycle::opens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opens_;
}

int Lifecycle::closes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closes_;
}

int Lifecycle::closes(CloseReason::Kind kind) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_kind_.find(kind);
  return it == by_kind_.end() ? 0 : it->second;
}

std::string Lifecycle::Summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s = "opens=" + std::to_string(opens_) +
                  " closes=" + std::to_string(closes_);
  for (const auto& [kind, n] : by_kind_) {
    s += " " + CloseReason{kind, 0}.ToString() + "=" + std::to_string(n);
  }
  return s;
}

bool Lifecycle::WaitCloses(int n, Clock::duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return closes_ >= n; });
}

Action LineEchoHandler::OnData(Conn& conn) {
  for (;;) {
    const absl::string_view in = conn.Peek();
    const size_t eol = in.find('\n');
    if (eol == absl::string_view::npos) return Action::kNone;
    conn.Write(in.substr(0, eol + 1));
    conn.Discard(eol + 1);
  }
}

// ---------------------------------------------------------------------------
// Server

Server StartServer(const EngineOptions& options, HandlerFactory factory) {
  Server s;
  s.engine = std::make_unique<Engine>(options);
  REQUIRE(s.engine->Listen("tcp://127.0.0.1:0", std::move(factory)).ok());
  REQUIRE(s.engine->Start().ok());
  const std::vector<std::string> addrs = s.engine->ListenAddresses();
  REQUIRE(!addrs.empty());
  const size_t colon = addrs.front().rfind(':');
  REQUIRE(colon != std::string::npos);
  s.port = std::stoi(addrs.front().substr(colon + 1));
  return s;
}

bool WaitStopped(Engine& engine, Clock::duration timeout) {
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

}  // namespace actnet::fault
