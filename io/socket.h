// Socket set-up and every socket call the runtime makes (the backends
// and the connection options use these; nothing above io/ calls the
// kernel's socket API itself). Every socket created here is non-blocking
// and close-on-exec and is returned as a UniqueFd, so the caller owns it.
// The functions keep no state and may be called from any thread; the
// fd-level calls are as thread-safe as the syscalls beneath them.
//
// Set-up returns absl::Status naming the syscall and its target ("bind
// 127.0.0.1:9000: Address already in use"). The hot-path calls (accept,
// recv, send...) return -errno and allocate nothing.

#ifndef ACTNET_IO_SOCKET_H_
#define ACTNET_IO_SOCKET_H_

#include <sys/types.h>
#include <sys/uio.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/address.h"
#include "io/unique_fd.h"

namespace actnet::io {

// Creates a listening stream socket (tcp*, unix) bound to `address`:
// SO_REUSEADDR per options.reuseaddr and SO_REUSEPORT per options.reuseport
// (TCP only; both ignored for unix), IPV6_V6ONLY for tcp6, then
// listen(options.backlog). For unix, a socket file nobody listens on (a
// connect() gets ECONNREFUSED: left by a dead process) is unlinked first; a
// live listener gives FailedPrecondition "bind unix://<path>: address
// already in use". Files that are not sockets are never removed.
absl::StatusOr<UniqueFd> ListenStream(const Address& address);

// Creates a UDP socket bound to `address` (SO_REUSEADDR per options,
// SO_REUSEPORT when options.reuseport, IPV6_V6ONLY for udp6). When the host
// is a multicast group, the socket is bound to the group and joins it on
// interface options.multicast_if (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP),
// with multicast loopback on.
absl::StatusOr<UniqueFd> BindDatagram(const Address& address);

// Creates a stream socket and starts a non-blocking connect to `remote`.
// On success *in_progress (if non-null) says whether the connection is
// still being established (EINPROGRESS): wait for writability, then read
// SocketError(). Immediate failures (e.g. ECONNREFUSED, or EAGAIN on a unix
// socket whose backlog is full) are errors.
absl::StatusOr<UniqueFd> ConnectStream(const SocketAddress& remote,
                                       bool* in_progress);
// A non-blocking, close-on-exec stream socket of `remote`'s family, not yet
// connected (for a backend that connects it with an operation).
absl::StatusOr<UniqueFd> StreamSocketFor(const SocketAddress& remote);

// A non-blocking, close-on-exec UDP socket connected to `remote` (send and
// recv then talk to that peer only).
absl::StatusOr<UniqueFd> ConnectDatagram(const SocketAddress& remote);

// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), retrying EINTR. Returns the new fd
// (>= 0; the caller owns it) or -errno (-EAGAIN when nothing is pending,
// -EMFILE, -ECONNABORTED, ...). Fills *peer when non-null.
int AcceptNonBlocking(int listen_fd, SocketAddress* peer);

// recv(2): bytes read (0 at EOF) or -errno (-EAGAIN when nothing is there).
ssize_t Recv(int fd, void* buf, size_t len);
// One datagram with MSG_TRUNC: returns its real length, which exceeds `len`
// when it did not fit (the rest is lost), or -errno. Fills *from.
ssize_t RecvFrom(int fd, void* buf, size_t len, SocketAddress* from);
// send/sendmsg with MSG_NOSIGNAL (a peer that went away is -EPIPE for this
// call, never a SIGPIPE for the process): bytes sent or -errno.
ssize_t SendIov(int fd, const struct iovec* iov, int count);
// One datagram with MSG_NOSIGNAL, to `to` (null: the connected peer).
ssize_t SendTo(int fd, const void* data, size_t len, const SocketAddress* to);
// shutdown(SHUT_WR): 0 or -errno.
int ShutdownWrite(int fd);
// SO_LINGER {on, 0}: the close that follows resets the connection (RST).
void SetResetOnClose(int fd);

// SO_TYPE (SOCK_STREAM, SOCK_DGRAM...).
absl::StatusOr<int> SocketType(int fd);
// O_NONBLOCK on.
absl::Status SetNonBlocking(int fd);

absl::Status SetNoDelay(int fd, bool on);
// idle_seconds > 0 also sets TCP_KEEPIDLE and TCP_KEEPINTVL to it.
absl::Status SetKeepAlive(int fd, bool on, int idle_seconds = 0);
absl::Status SetSendBufferSize(int fd, int bytes);
absl::Status SetRecvBufferSize(int fd, int bytes);

absl::StatusOr<SocketAddress> LocalAddress(int fd);
absl::StatusOr<SocketAddress> PeerAddress(int fd);

// The pending SO_ERROR value (0 = none); clears it. If getsockopt itself
// fails, returns its errno.
int SocketError(int fd);

}  // namespace actnet::io

#endif  // ACTNET_IO_SOCKET_H_
