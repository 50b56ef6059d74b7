#include "tests/testing/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "io/address.h"

namespace actnet::testutil {
namespace {

// Records a failure's errno where the caller asked for it.
void SetError(int* error, int err) {
  if (error != nullptr) *error = err;
}

// How a failed read (RecvSome returned -1) ended, from its errno.
End EndOf(int err) {
  if (err == ECONNRESET) return End::kReset;
  return err == ETIMEDOUT ? End::kTimeout : End::kError;
}

}  // namespace

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
// By fd

bool WaitReady(int fd, short events, Clock::time_point deadline, int* error) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      SetError(error, ETIMEDOUT);
      return false;
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left + 1, 1000)));
    if (n > 0) return true;  // readiness, or an error the next call reports
    if (n < 0 && errno != EINTR) {
      SetError(error, errno);
      return false;
    }
  }
}

ssize_t SendSome(int fd, std::string_view data, Clock::time_point deadline, int* error) {
  for (;;) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EAGAIN && errno != EINTR) {
      SetError(error, errno);
      return -1;
    }
    if (errno == EAGAIN && !WaitReady(fd, POLLOUT, deadline, error)) return -1;
  }
}

bool SendAll(int fd, std::string_view data, Clock::time_point deadline, int* error) {
  while (!data.empty()) {
    const ssize_t n = SendSome(fd, data, deadline, error);
    if (n < 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

ssize_t RecvSome(int fd, size_t max, std::string* out, Clock::time_point deadline, int* error) {
  char buf[64 * 1024];
  const size_t want = std::min(max, sizeof(buf));
  for (;;) {
    const ssize_t n = ::recv(fd, buf, want, 0);
    if (n > 0) {
      if (out != nullptr) out->append(buf, static_cast<size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno != EAGAIN && errno != EINTR) {
      SetError(error, errno);
      return -1;
    }
    if (errno == EAGAIN && !WaitReady(fd, POLLIN, deadline, error)) return -1;
  }
}

bool RecvExactly(int fd, size_t n, std::string* out, Clock::time_point deadline, int* error) {
  while (n > 0) {
    const ssize_t got = RecvSome(fd, n, out, deadline, error);
    if (got <= 0) {
      if (got == 0) SetError(error, 0);
      return false;
    }
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool RecvUntil(int fd, const std::function<bool(const std::string&)>& done, std::string* out,
               Clock::time_point deadline, int* error) {
  while (!done(*out)) {
    if (RecvSome(fd, 64 * 1024, out, deadline, error) <= 0) return done(*out);
  }
  return true;
}

End RecvUntilClosed(int fd, std::string* out, size_t* bytes, Clock::time_point deadline,
                    int* error) {
  int err = 0;
  for (;;) {
    const ssize_t n = RecvSome(fd, 64 * 1024, out, deadline, &err);
    if (n == 0) return End::kEof;
    if (n < 0) {
      SetError(error, err);
      return EndOf(err);
    }
    if (bytes != nullptr) *bytes += static_cast<size_t>(n);
  }
}

bool RoundTrip(int fd, std::string_view data, Clock::time_point deadline, int* error) {
  std::string back;
  back.reserve(data.size());
  return SendAll(fd, data, deadline, error) &&
         RecvExactly(fd, data.size(), &back, deadline, error) && back == data;
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

// ---------------------------------------------------------------------------
// Client

Client Client::Connect(std::string_view url, std::string* error, Clock::duration timeout,
                       int rcvbuf) {
  const Clock::time_point deadline = Clock::now() + timeout;
  Client c;
  auto fail = [&](std::string_view what) {
    if (error != nullptr) {
      *error = std::string(url) + ": " + std::string(what) + ": " + std::strerror(c.last_error_);
    }
    c.Close();
    return std::move(c);
  };
  absl::StatusOr<io::Address> address = io::ParseAddress(absl::string_view(url.data(), url.size()));
  absl::StatusOr<io::SocketAddress> remote =
      address.ok() ? address->Resolve() : absl::StatusOr<io::SocketAddress>(address.status());
  if (!remote.ok()) {
    c.last_error_ = EINVAL;
    return fail(std::string(remote.status().message()));
  }
  const bool stream = io::IsStream(address->network);
  c.fd_.Reset(::socket(remote->family(),
                       (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.valid()) {
    c.last_error_ = errno;
    return fail("socket");
  }
  if (rcvbuf > 0) ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (!c.ConnectAddress(remote->data(), remote->size(), deadline)) return fail("connect");
  return c;
}

Client Client::Connect(int port, Clock::time_point deadline, int* error, int rcvbuf) {
  Client c = Unconnected();
  if (!c.valid()) {
    SetError(error, c.last_error_);
    return c;
  }
  if (rcvbuf > 0) ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (!c.ConnectTo(port, deadline, error)) c.Close();
  return c;
}

Client Client::Unconnected() {
  Client c(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.valid()) c.last_error_ = errno;
  return c;
}

bool Client::ConnectTo(int port, Clock::time_point deadline, int* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ConnectAddress(reinterpret_cast<const sockaddr*>(&addr), sizeof(addr), deadline);
  SetError(error, last_error_);
  return ok;
}

bool Client::ConnectAddress(const sockaddr* addr, socklen_t len, Clock::time_point deadline) {
  int err = 0;
  if (::connect(fd(), addr, len) != 0) {
    err = errno;
    if (err == EINPROGRESS || err == EALREADY) {
      err = 0;
      if (WaitReady(fd(), POLLOUT, deadline, &err)) {
        socklen_t elen = sizeof(err);
        ::getsockopt(fd(), SOL_SOCKET, SO_ERROR, &err, &elen);
      }
    } else if (err == EISCONN) {
      err = 0;
    }
  }
  int type = 0;
  socklen_t tlen = sizeof(type);
  if (err == 0 && addr->sa_family != AF_UNIX &&
      ::getsockopt(fd(), SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM) {
    const int one = 1;
    ::setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  last_error_ = err;
  return err == 0;
}

End Client::WaitClosedEmpty(Clock::time_point deadline) {
  std::string got;
  const ssize_t n = RecvSome(1, &got, deadline);
  if (n == 0) return End::kEof;
  return n > 0 ? End::kError : EndOf(last_error_);
}

void Client::ShutdownWrite() {
  if (valid()) ::shutdown(fd(), SHUT_WR);
}

void Client::ResetClose() {
  if (!valid()) return;
  const linger lg{1, 0};
  ::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  Close();
}

bool Client::MoveAbove(int min_fd) {
  const int moved = ::fcntl(fd(), F_DUPFD_CLOEXEC, min_fd);
  if (moved < 0) return false;
  fd_.Reset(moved);
  return true;
}

}  // namespace actnet::testutil
