#include "io/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace actnet::io {
namespace {

constexpr int kSockFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;

absl::Status SetIntOption(int fd, int level, int name, int value,
                          absl::string_view name_text) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return ErrnoStatus(errno,
                       absl::StrCat("setsockopt(", name_text, ") fd ", fd));
  }
  return absl::OkStatus();
}

// Creates the socket and applies the options shared by stream and datagram
// listeners, then binds to `local`.
absl::StatusOr<UniqueFd> OpenBound(const Address& address,
                                   const SocketAddress& local, int type) {
  const std::string target = local.ToString();
  UniqueFd fd(::socket(local.family(), type | kSockFlags, 0));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("socket ", address.ToString()));
  if (local.family() != AF_UNIX) {
    if (address.options.reuseaddr) {
      absl::Status s = SetIntOption(fd.Get(), SOL_SOCKET, SO_REUSEADDR, 1,
                                    "SO_REUSEADDR");
      if (!s.ok()) return s;
    }
    if (address.options.reuseport) {
      absl::Status s = SetIntOption(fd.Get(), SOL_SOCKET, SO_REUSEPORT, 1,
                                    "SO_REUSEPORT");
      if (!s.ok()) return s;
    }
    if (address.network == Network::kTcp6 ||
        address.network == Network::kUdp6) {
      absl::Status s = SetIntOption(fd.Get(), IPPROTO_IPV6, IPV6_V6ONLY, 1,
                                    "IPV6_V6ONLY");
      if (!s.ok()) return s;
    }
  }
  if (::bind(fd.Get(), local.data(), local.size()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind ", target));
  }
  return fd;
}

// Removes a unix socket file left behind by a dead process. Fails if a live
// process is listening on it.
absl::Status RemoveStaleUnixSocket(const Address& address,
                                   const SocketAddress& local) {
  struct stat st;
  if (::lstat(address.path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return absl::OkStatus();  // absent, or not ours to remove: bind decides
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | kSockFlags, 0));
  if (!probe) {
    return ErrnoStatus(errno, absl::StrCat("socket ", address.ToString()));
  }
  if (::connect(probe.Get(), local.data(), local.size()) == 0 ||
      errno == EAGAIN || errno == EINPROGRESS) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bind ", address.ToString(),
        ": address already in use (another process is listening)"));
  }
  if (errno == ECONNREFUSED && ::unlink(address.path.c_str()) != 0 &&
      errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink stale ", address.path));
  }
  return absl::OkStatus();
}

// Joins the multicast group `local` names on interface address.options.
// multicast_if (0: the kernel's choice) and loops sent datagrams back to
// this host, so a sender on the same machine is heard.
absl::Status JoinGroup(int fd, const Address& address,
                       const SocketAddress& local) {
  const std::string target = address.ToString();
  if (local.family() == AF_INET6) {
    ipv6_mreq mreq{};
    mreq.ipv6mr_multiaddr =
        reinterpret_cast<const sockaddr_in6*>(local.data())->sin6_addr;
    mreq.ipv6mr_interface = static_cast<unsigned>(address.options.multicast_if);
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof(mreq)) != 0) {
      return ErrnoStatus(errno, absl::StrCat("IPV6_JOIN_GROUP ", target));
    }
    return SetIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1,
                        "IPV6_MULTICAST_LOOP");
  }
  ip_mreqn mreq{};
  mreq.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(local.data())->sin_addr;
  mreq.imr_ifindex = address.options.multicast_if;
  if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("IP_ADD_MEMBERSHIP ", target));
  }
  return SetIntOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 1, "IP_MULTICAST_LOOP");
}

absl::StatusOr<SocketAddress> NameOf(int fd, bool peer) {
  SocketAddress out;
  out.Reset();
  int rc = peer ? ::getpeername(fd, out.mutable_data(), out.mutable_size())
                : ::getsockname(fd, out.mutable_data(), out.mutable_size());
  if (rc != 0) {
    return ErrnoStatus(errno, absl::StrCat(peer ? "getpeername" : "getsockname",
                                           " fd ", fd));
  }
  return out;
}

}  // namespace

absl::StatusOr<UniqueFd> ListenStream(const Address& address) {
  if (!IsStream(address.network)) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen ", address.ToString(), ": not a stream network"));
  }
  absl::StatusOr<SocketAddress> local = address.Resolve();
  if (!local.ok()) return local.status();
  if (address.network == Network::kUnix) {
    absl::Status s = RemoveStaleUnixSocket(address, *local);
    if (!s.ok()) return s;
  }
  absl::StatusOr<UniqueFd> fd = OpenBound(address, *local, SOCK_STREAM);
  if (!fd.ok()) return fd.status();
  if (::listen(fd->Get(), address.options.backlog) != 0) {
    return ErrnoStatus(errno, absl::StrCat("listen ", local->ToString()));
  }
  return fd;
}

absl::StatusOr<UniqueFd> BindDatagram(const Address& address) {
  if (!IsDatagram(address.network)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bind ", address.ToString(), ": not a datagram network"));
  }
  absl::StatusOr<SocketAddress> local = address.Resolve();
  if (!local.ok()) return local.status();
  absl::StatusOr<UniqueFd> fd = OpenBound(address, *local, SOCK_DGRAM);
  if (!fd.ok() || !IsMulticastHost(address.host)) return fd;
  absl::Status s = JoinGroup(fd->Get(), address, *local);
  if (!s.ok()) return s;
  return fd;
}

absl::StatusOr<UniqueFd> StreamSocketFor(const SocketAddress& remote) {
  UniqueFd fd(::socket(remote.family(), SOCK_STREAM | kSockFlags, 0));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("socket ", remote.ToString()));
  return fd;
}

absl::StatusOr<UniqueFd> ConnectStream(const SocketAddress& remote,
                                       bool* in_progress) {
  if (in_progress != nullptr) *in_progress = false;
  absl::StatusOr<UniqueFd> socket = StreamSocketFor(remote);
  if (!socket.ok()) return socket.status();
  UniqueFd fd = std::move(*socket);
  if (::connect(fd.Get(), remote.data(), remote.size()) != 0) {
    // EINTR on a non-blocking connect means it goes on asynchronously.
    if (errno != EINPROGRESS && errno != EINTR) {
      return ErrnoStatus(errno, absl::StrCat("connect ", remote.ToString()));
    }
    if (in_progress != nullptr) *in_progress = true;
  }
  return fd;
}

absl::StatusOr<UniqueFd> ConnectDatagram(const SocketAddress& remote) {
  UniqueFd fd(::socket(remote.family(), SOCK_DGRAM | kSockFlags, 0));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("socket ", remote.ToString()));
  if (::connect(fd.Get(), remote.data(), remote.size()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("connect ", remote.ToString()));
  }
  return fd;
}

int AcceptNonBlocking(int listen_fd, SocketAddress* peer) {
  int fd;
  do {
    if (peer != nullptr) {
      peer->set_size(SocketAddress::kCapacity);
      fd = ::accept4(listen_fd, peer->mutable_data(), peer->mutable_size(),
                     kSockFlags);
    } else {
      fd = ::accept4(listen_fd, nullptr, nullptr, kSockFlags);
    }
  } while (fd < 0 && errno == EINTR);
  return fd >= 0 ? fd : -errno;
}

ssize_t Recv(int fd, void* buf, size_t len) {
  const ssize_t n = ::recv(fd, buf, len, 0);
  return n >= 0 ? n : -errno;
}

ssize_t RecvFrom(int fd, void* buf, size_t len, SocketAddress* from) {
  from->set_size(SocketAddress::kCapacity);
  const ssize_t n = ::recvfrom(fd, buf, len, MSG_TRUNC, from->mutable_data(),
                               from->mutable_size());
  return n >= 0 ? n : -errno;
}

ssize_t SendIov(int fd, const struct iovec* iov, int count) {
  ssize_t n;
  if (count == 1) {
    n = ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  } else {
    msghdr msg{};
    msg.msg_iov = const_cast<struct iovec*>(iov);
    msg.msg_iovlen = static_cast<size_t>(count);
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  }
  return n >= 0 ? n : -errno;
}

ssize_t SendTo(int fd, const void* data, size_t len, const SocketAddress* to) {
  const ssize_t n =
      to != nullptr ? ::sendto(fd, data, len, MSG_NOSIGNAL, to->data(), to->size())
                    : ::send(fd, data, len, MSG_NOSIGNAL);
  return n >= 0 ? n : -errno;
}

int ShutdownWrite(int fd) { return ::shutdown(fd, SHUT_WR) == 0 ? 0 : -errno; }

void SetResetOnClose(int fd) {
  const linger lg{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

absl::StatusOr<int> SocketType(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return ErrnoStatus(errno, absl::StrCat("getsockopt(SO_TYPE) fd ", fd));
  }
  return type;
}

absl::Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fcntl(O_NONBLOCK) fd ", fd));
  }
  return absl::OkStatus();
}

absl::Status SetNoDelay(int fd, bool on) {
  return SetIntOption(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "TCP_NODELAY");
}

absl::Status SetKeepAlive(int fd, bool on, int idle_seconds) {
  absl::Status s =
      SetIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, "SO_KEEPALIVE");
  if (!s.ok() || !on || idle_seconds <= 0) return s;
  s = SetIntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_seconds, "TCP_KEEPIDLE");
  if (!s.ok()) return s;
  return SetIntOption(fd, IPPROTO_TCP, TCP_KEEPINTVL, idle_seconds,
                      "TCP_KEEPINTVL");
}

absl::Status SetSendBufferSize(int fd, int bytes) {
  return SetIntOption(fd, SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF");
}

absl::Status SetRecvBufferSize(int fd, int bytes) {
  return SetIntOption(fd, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF");
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) { return NameOf(fd, false); }

absl::StatusOr<SocketAddress> PeerAddress(int fd) { return NameOf(fd, true); }

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

}  // namespace actnet::io
