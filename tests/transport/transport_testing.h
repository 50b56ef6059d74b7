// Helpers for the transport tests (UDP, unix sockets, the client, the
// proxy): plain loopback sockets addressed by actnet URLs, a private /tmp
// directory for unix sockets (Bazel's TEST_TMPDIR can exceed sun_path), the
// open-fd count for leak checks, and a child process for example binaries.
//
// Every blocking call takes a deadline and fails instead of hanging, so a
// server bug is a failed CHECK, not a Bazel timeout. Functions are
// thread-safe; a socket is used by one thread at a time.
#ifndef ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_
#define ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tests/testing/common.h"

namespace actnet::transport {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testutil::ChildProcess;
using testutil::CountOpenFds;
using testutil::RandomBytes;
using testutil::Runfile;
using testutil::TempDir;
using testutil::WaitFor;

// Sanitizer builds run several times slower: stress sizes shrink there.
#if defined(ACTNET_SANITIZER)
inline constexpr int kSlowdown = 5;
#else
inline constexpr int kSlowdown = 1;
#endif

// An owned fd (closed on destruction).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// A non-blocking socket of `type` (SOCK_STREAM or SOCK_DGRAM) connected to
// an actnet URL (tcp://, tcp6://, udp://, udp6://, unix://). For a stream
// the connect completes within `timeout` or fails. Invalid on failure, with
// *error saying why.
Fd ConnectUrl(const std::string& url, std::string* error = nullptr,
              Clock::duration timeout = seconds(10));

// A blocking TCP socket bound to 127.0.0.1 on a port the kernel picks,
// listening with `backlog` if it is positive (else only bound: connects
// to it are refused). Invalid on failure; *port is the port.
Fd BindLoopback(int backlog, int* port);

// Waits for `events` (POLLIN/POLLOUT) on fd until `deadline`.
bool WaitReady(int fd, short events, Clock::time_point deadline);
// Sends all of `data` on a non-blocking stream socket.
bool SendAll(int fd, std::string_view data, Clock::time_point deadline);
// Receives exactly n bytes, appended to *out.
bool RecvExactly(int fd, size_t n, std::string* out, Clock::time_point deadline);
// Sends `data` and reads it back byte-exact.
bool RoundTrip(int fd, std::string_view data, Clock::time_point deadline);
// One datagram (up to 64 KiB), or "" with *ok false at the deadline.
std::string RecvDatagram(int fd, Clock::time_point deadline, bool* ok);

}  // namespace actnet::transport

#endif  // ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_
