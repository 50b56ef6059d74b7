// Blocking client sockets for the loopback tests of every package: Client,
// a move-only socket that connects by actnet URL (tcp, tcp4, tcp6, unix,
// udp) or to a loopback TCP port, and the same send and receive operations
// on a bare fd (for socketpairs and sockets a test accepted itself).
//
// Sockets are non-blocking underneath and every call waits with poll()
// until its deadline, then fails instead of hanging, so a server bug shows
// up as a failed CHECK, not a Bazel timeout. A Client is used by one thread
// at a time, except that one thread may send while another receives; the
// fd-level functions are thread-safe in the same sense.
#ifndef ACTNET_TESTS_TESTING_CLIENT_H_
#define ACTNET_TESTS_TESTING_CLIENT_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "io/unique_fd.h"
#include "tests/testing/common.h"

namespace actnet::testutil {

// How a read until the peer closes ended.
enum class End { kEof, kReset, kTimeout, kError };
const char* EndName(End e);

// ---- Any connected socket, by fd ----
// Each takes a deadline; `error`, if not null, receives the errno of a
// failure (ETIMEDOUT at the deadline, 0 when the stream ended early at EOF).

// Waits for `events` (POLLIN, POLLOUT); true once one (or an error the next
// call reports) is ready.
bool WaitReady(int fd, short events, Clock::time_point deadline, int* error = nullptr);
// One send() of up to data.size() bytes once writable: bytes sent, or -1.
ssize_t SendSome(int fd, std::string_view data, Clock::time_point deadline,
                 int* error = nullptr);
bool SendAll(int fd, std::string_view data, Clock::time_point deadline, int* error = nullptr);
// Up to `max` bytes appended to *out (if not null) once some are there:
// >0 bytes, 0 at EOF, -1 on reset, error or deadline.
ssize_t RecvSome(int fd, size_t max, std::string* out, Clock::time_point deadline,
                 int* error = nullptr);
// Exactly n bytes appended to *out (what arrived stays appended on failure).
bool RecvExactly(int fd, size_t n, std::string* out, Clock::time_point deadline,
                 int* error = nullptr);
// Appends to *out until `done(*out)` holds (true), or EOF, an error or the
// deadline come first (then whether `done` holds at that point).
bool RecvUntil(int fd, const std::function<bool(const std::string&)>& done, std::string* out,
               Clock::time_point deadline, int* error = nullptr);
// Reads until the peer ends the stream, into *out if not null, counting into
// *bytes if not null; says how it ended.
End RecvUntilClosed(int fd, std::string* out, size_t* bytes, Clock::time_point deadline,
                    int* error = nullptr);
// Sends `data` and expects it back byte-exact.
bool RoundTrip(int fd, std::string_view data, Clock::time_point deadline, int* error = nullptr);
// One datagram (up to 64 KiB), or "" with *ok false at the deadline.
std::string RecvDatagram(int fd, Clock::time_point deadline, bool* ok);

// ---- A socket of the test's own ----
class Client {
 public:
  Client() = default;
  // Takes ownership of `fd`, a socket (made non-blocking by the caller).
  explicit Client(int fd) : fd_(fd) {}
  Client(Client&&) noexcept = default;
  Client& operator=(Client&&) noexcept = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connected to an actnet URL: a stream socket (TCP_NODELAY on TCP) whose
  // connect completes within `timeout`, or a connected datagram socket for
  // udp URLs. `rcvbuf` > 0 sets SO_RCVBUF before connecting. On failure the
  // client is invalid, *error says why and last_error() is the errno.
  static Client Connect(std::string_view url, std::string* error = nullptr,
                        Clock::duration timeout = std::chrono::seconds(10), int rcvbuf = 0);
  // Connected to 127.0.0.1:port over TCP by `deadline`; on failure invalid,
  // with the errno (ECONNREFUSED, ETIMEDOUT, EMFILE...) in *error.
  static Client Connect(int port, Clock::time_point deadline, int* error = nullptr,
                        int rcvbuf = 0);
  // A TCP socket not connected yet, for a test that must own the fd first.
  static Client Unconnected();
  // Starts (or completes) connecting this socket to 127.0.0.1:port; true
  // once connected, before the deadline.
  bool ConnectTo(int port, Clock::time_point deadline, int* error = nullptr);

  bool valid() const { return fd_.IsValid(); }
  int fd() const { return fd_.Get(); }
  // errno of the last failed operation (ETIMEDOUT at a deadline, 0 if a
  // read ended early at EOF).
  int last_error() const { return last_error_; }

  ssize_t SendSome(std::string_view data, Clock::time_point deadline) {
    return testutil::SendSome(fd(), data, deadline, &last_error_);
  }
  bool SendAll(std::string_view data, Clock::time_point deadline) {
    return testutil::SendAll(fd(), data, deadline, &last_error_);
  }
  ssize_t RecvSome(size_t max, std::string* out, Clock::time_point deadline) {
    return testutil::RecvSome(fd(), max, out, deadline, &last_error_);
  }
  bool RecvExactly(size_t n, std::string* out, Clock::time_point deadline) {
    return testutil::RecvExactly(fd(), n, out, deadline, &last_error_);
  }
  bool RecvUntil(const std::function<bool(const std::string&)>& done, std::string* out,
                 Clock::time_point deadline) {
    return testutil::RecvUntil(fd(), done, out, deadline, &last_error_);
  }
  End RecvUntilClosed(std::string* out, size_t* bytes, Clock::time_point deadline) {
    return testutil::RecvUntilClosed(fd(), out, bytes, deadline, &last_error_);
  }
  // Receives until EOF; false on a reset, an error or the deadline.
  bool RecvUntilEof(std::string* out, Clock::time_point deadline) {
    return RecvUntilClosed(out, nullptr, deadline) == End::kEof;
  }
  // Waits for the peer to end the connection without sending anything:
  // kEof or kReset, kTimeout, or kError if data arrived.
  End WaitClosedEmpty(Clock::time_point deadline);
  bool RoundTrip(std::string_view data, Clock::time_point deadline) {
    return testutil::RoundTrip(fd(), data, deadline, &last_error_);
  }

  void ShutdownWrite();
  // Closes with SO_LINGER {1, 0}: the peer gets a RST, not a FIN.
  void ResetClose();
  void Close() { fd_.Reset(); }
  // Moves the fd to the lowest free number >= min_fd (F_DUPFD_CLOEXEC).
  bool MoveAbove(int min_fd);

 private:
  // Connects to `addr` by the deadline; sets last_error_ either way.
  bool ConnectAddress(const sockaddr* addr, socklen_t len, Clock::time_point deadline);

  io::UniqueFd fd_;
  int last_error_ = 0;
};

}  // namespace actnet::testutil

#endif  // ACTNET_TESTS_TESTING_CLIENT_H_
