// Helpers for the loopback integration tests: blocking, poll-bounded client
// sockets, an echo handler, a temporary directory for unix sockets, the
// open-fd count for leak checks, and waiting with a failure timeout.
//
// Every client call takes a deadline and fails (returns false) instead of
// hanging, so a server bug shows up as a failed CHECK, not a Bazel timeout.
// A Client is used by one thread at a time, except that one thread may send
// while another receives on the same socket.
#ifndef ACTNET_TESTS_INTEGRATION_TESTING_H_
#define ACTNET_TESTS_INTEGRATION_TESTING_H_

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "actnet.h"
#include "tests/testing/common.h"

namespace actnet::integration {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testutil::CheckNoFdLeak;
using testutil::CountOpenFds;
using testutil::RandomBytes;
using testutil::TempDir;
using testutil::WaitFor;

// Sanitizer builds (ACTNET_SANITIZER, from the asan/tsan/ubsan configs) run
// several times slower: stress sizes shrink by this factor there.
#if defined(ACTNET_SANITIZER)
inline constexpr int kSlowdown = 10;
inline constexpr bool kSanitized = true;
#else
inline constexpr int kSlowdown = 1;
inline constexpr bool kSanitized = false;
#endif
// `n` in a plain build, n / kSlowdown (at least `floor`) under a sanitizer.
inline int64_t Scaled(int64_t n, int64_t floor = 1) {
  const int64_t s = n / kSlowdown;
  return s < floor ? floor : s;
}

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft
// limit.
int64_t RaiseFdLimit();

// A client socket connected to an engine's listen URL (tcp://host:port,
// tcp6://[::1]:port or unix:///path). Non-blocking underneath; every
// operation waits with poll() until its deadline.
class Client {
 public:
  Client() = default;
  ~Client() { Close(); }
  Client(Client&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects to `url`; on failure the client is invalid and `error` says
  // why. `rcvbuf` > 0 sets SO_RCVBUF before connecting.
  static Client Connect(const std::string& url, std::string* error = nullptr,
                        Clock::duration timeout = seconds(10), int rcvbuf = 0);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all of `data`; false on error or at the deadline.
  bool SendAll(std::string_view data, Clock::time_point deadline);
  // Receives exactly n bytes, appended to *out; false on EOF, error or
  // deadline (what arrived is still appended).
  bool RecvExactly(size_t n, std::string* out, Clock::time_point deadline);
  // Receives up to `max` bytes once some are available: >0 bytes appended,
  // 0 at EOF, -1 on error or deadline.
  ssize_t RecvSome(size_t max, std::string* out, Clock::time_point deadline);
  // Receives until EOF, appended to *out; false on error or deadline.
  bool RecvUntilEof(std::string* out, Clock::time_point deadline);
  // Sends then receives `data` back, byte-exact.
  bool RoundTrip(std::string_view data, Clock::time_point deadline);

  void ShutdownWrite();
  // Closes with SO_LINGER {1, 0}: the peer gets a RST, not a FIN.
  void ResetClose();
  void Close();
  // errno of the last failed operation (ETIMEDOUT at a deadline).
  int last_error() const { return last_error_; }

 private:
  explicit Client(int fd) : fd_(fd) {}
  bool WaitReady(short events, Clock::time_point deadline);

  int fd_ = -1;
  int last_error_ = 0;
};

// Engine options with `n` loops and everything else at its default.
EngineOptions Loops(int n);

// Confines the calling thread (and threads it starts) to one CPU until
// destroyed, even when a REQUIRE ends the test early. An engine started
// meanwhile sees one allowed CPU, as under `taskset -c 0`.
class OneCpu {
 public:
  OneCpu();
  ~OneCpu();
  OneCpu(const OneCpu&) = delete;
  OneCpu& operator=(const OneCpu&) = delete;

 private:
  cpu_set_t saved_;
};

// Echoes every byte back (examples/echo's handler).
class EchoHandler : public Handler {
 public:
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
};

// A thread-safe record of connection lifecycles, filled by handlers on loop
// threads and read by the test thread.
class ConnLog {
 public:
  void Opened(const ActorRef& ref);
  void Closed(const ActorRef& ref, const CloseReason& reason);
  int opens() const;
  int closes() const;
  // Refs in the order their connections opened.
  std::vector<ActorRef> opened_refs() const;
  // Close reasons in the order they happened.
  std::vector<CloseReason> reasons() const;
  bool WaitOpens(int n, Clock::duration timeout = seconds(10)) const;
  bool WaitCloses(int n, Clock::duration timeout = seconds(10)) const;

 private:
  mutable std::mutex mu_;
  std::vector<ActorRef> opened_;
  std::vector<CloseReason> reasons_;
};

// A handler base that records OnOpen/OnClose in a ConnLog.
class LoggedHandler : public Handler {
 public:
  explicit LoggedHandler(ConnLog* log) : log_(log) {}
  Action OnOpen(Conn& conn) override {
    log_->Opened(conn.ref());
    return Action::kNone;
  }
  void OnClose(Conn& conn, const CloseReason& reason) override {
    log_->Closed(conn.ref(), reason);
  }

 protected:
  ConnLog* log() const { return log_; }

 private:
  ConnLog* log_;
};

// Runs engine.Wait() on a helper thread and reports whether it returned
// within `timeout`. If it did not, asks the engine to Stop and waits for it
// anyway, so a failing test still ends (or hits Bazel's timeout).
bool WaitWithin(Engine& engine, Clock::duration timeout);

// Holds an event loop's thread inside a posted task, so a test can line up
// socket events that the loop must then find all at once. The task gives
// up after 10 s, so a test that forgets Release() still ends.
class LoopBlocker {
 public:
  // Posts the blocking task to loop `loop`; returns once it is running.
  LoopBlocker(Engine& engine, uint32_t loop);
  ~LoopBlocker() { Release(); }
  LoopBlocker(const LoopBlocker&) = delete;
  LoopBlocker& operator=(const LoopBlocker&) = delete;
  bool blocking() const { return running_->load() == 1; }
  void Release() { release_->store(true); }

 private:
  // Shared with the task, which may outlive a failed test's blocker.
  std::shared_ptr<std::atomic<int>> running_ =
      std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<bool>> release_ =
      std::make_shared<std::atomic<bool>>(false);
};

// The engine's first listen address, or "" if there is none.
std::string FirstAddress(const Engine& engine);

}  // namespace actnet::integration

#endif  // ACTNET_TESTS_INTEGRATION_TESTING_H_
