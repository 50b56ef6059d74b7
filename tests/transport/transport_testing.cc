#include "tests/transport/transport_testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include "io/address.h"

extern char** environ;

namespace actnet::transport {
namespace {

int RemainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    Reset();
    fd_ = o.release();
  }
  return *this;
}

void Fd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Fd ConnectUrl(const std::string& url, std::string* error,
              Clock::duration timeout) {
  auto fail = [error](std::string why) {
    if (error != nullptr) *error = std::move(why);
    return Fd();
  };
  absl::StatusOr<io::Address> address = io::ParseAddress(url);
  if (!address.ok()) return fail(address.status().ToString());
  absl::StatusOr<io::SocketAddress> remote = address->Resolve();
  if (!remote.ok()) return fail(remote.status().ToString());
  const bool stream = io::IsStream(address->network);
  Fd fd(::socket(remote->family(),
                 (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0));
  if (!fd.valid()) return fail(std::strerror(errno));
  if (::connect(fd.get(), remote->data(), remote->size()) != 0) {
    if (errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
    if (!WaitReady(fd.get(), POLLOUT, Clock::now() + timeout)) {
      return fail("connect: timed out");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  }
  return fd;
}

Fd BindLoopback(int backlog, int* port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      (backlog > 0 && ::listen(fd.get(), backlog) != 0) ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return Fd();
  }
  *port = ntohs(a.sin_port);
  return fd;
}

bool WaitReady(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

bool SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitReady(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool RecvExactly(int fd, size_t n, std::string* out, Clock::time_point deadline) {
  char buf[64 * 1024];
  while (n > 0) {
    const ssize_t r = ::recv(fd, buf, std::min(n, sizeof(buf)), 0);
    if (r > 0) {
      out->append(buf, static_cast<size_t>(r));
      n -= static_cast<size_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitReady(fd, POLLIN, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool RoundTrip(int fd, std::string_view data, Clock::time_point deadline) {
  std::string back;
  return SendAll(fd, data, deadline) &&
         RecvExactly(fd, data.size(), &back, deadline) && back == data;
}

std::string RecvDatagram(int fd, Clock::time_point deadline, bool* ok) {
  std::string buf(64 * 1024, '\0');
  for (;;) {
    const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
    if (r >= 0) {
      buf.resize(static_cast<size_t>(r));
      *ok = true;
      return buf;
    }
    if ((errno != EAGAIN && errno != EINTR) || !WaitReady(fd, POLLIN, deadline)) {
      *ok = false;
      return "";
    }
  }
}

}  // namespace actnet::transport
