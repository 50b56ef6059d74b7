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

namespace actnet::transport {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Sanitizer builds run several times slower: stress sizes shrink there.
#if defined(ACTNET_SANITIZER)
inline constexpr int kSlowdown = 5;
#else
inline constexpr int kSlowdown = 1;
#endif

// Entries in /proc/self/fd, not counting the one used to read it.
int CountOpenFds();
// Polls `done` every millisecond until true or `timeout`; its last value.
// Used only to let closes made by other threads land (fd counts, files).
bool WaitFor(const std::function<bool()>& done,
             Clock::duration timeout = seconds(5));

// A private directory under /tmp, removed with its files on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const;

 private:
  std::string path_;
};

std::string RandomBytes(std::mt19937_64& rng, size_t n);

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

// An example binary run as a child process: waits for a stdout line
// containing "listening" (the port, if any, is the number after its last
// ':').
class ChildProcess {
 public:
  static std::unique_ptr<ChildProcess> Start(
      const std::string& binary, const std::vector<std::string>& args,
      Clock::duration timeout = seconds(60));
  ~ChildProcess();  // SIGKILLs the process if it still runs
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& line() const { return line_; }
  // VmRSS from /proc/PID/status in KiB, or -1.
  int64_t RssKib() const;
  // SIGTERM, then waits; the exit code, 128 + signal, or -1 if killed.
  int Terminate(Clock::duration timeout = seconds(30));

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string line_;
};

// The path of a data dependency ("examples/echo/echo") in the runfiles.
std::string Runfile(std::string_view path);

}  // namespace actnet::transport

#endif  // ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_
