// Helpers for the fault-injection tests: hostile loopback clients (resets,
// half-closes, trickles, sockets that never speak), an engine started on an
// ephemeral TCP port, lifecycle logging, and process measurements (open fds,
// RSS, CPU time).
//
// Every blocking client call takes a deadline and reports failure instead of
// hanging, so a server bug shows up as a failed CHECK rather than a Bazel
// timeout. A Sock is used by one thread at a time, except that one thread
// may send while another receives.
#ifndef ACTNET_TESTS_FAULT_FAULT_TESTING_H_
#define ACTNET_TESTS_FAULT_FAULT_TESTING_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "actnet.h"
#include "tests/testing/common.h"

namespace actnet::fault {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testutil::CheckNoFdLeak;
using testutil::CountOpenFds;
using testutil::ProcessCpuSeconds;
using testutil::RssKib;
using testutil::WaitFor;

#if defined(ACTNET_SANITIZER)
inline constexpr bool kSanitized = true;
inline constexpr int kSlowdown = 4;
#else
inline constexpr bool kSanitized = false;
inline constexpr int kSlowdown = 1;
#endif

// `d` stretched for sanitizer builds (which run several times slower).
inline Clock::duration Slack(Clock::duration d) { return d * kSlowdown; }
inline Clock::time_point After(Clock::duration d) { return Clock::now() + Slack(d); }

// Process measurements (CountOpenFds, CheckNoFdLeak, RssKib,
// ProcessCpuSeconds) and WaitFor come from tests/testing/common.h.

// Byte i of the deterministic response pattern.
inline char PatternByte(uint64_t i) {
  return static_cast<char>((i * 131 + (i >> 12) + 7) & 0xff);
}
std::string Pattern(size_t n);
// The first n (at most kMaxPatternView) pattern bytes, from a buffer built
// once per process (cheap even under sanitizers).
inline constexpr size_t kMaxPatternView = 16 << 20;
absl::string_view PatternView(size_t n);

// ---- Clients ----
// How a read-until-closed ended.
enum class End { kEof, kReset, kTimeout, kError };
const char* EndName(End e);

class Sock {
 public:
  Sock() = default;
  explicit Sock(int fd) : fd_(fd) {}
  ~Sock() { Close(); }
  Sock(Sock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Sock& operator=(Sock&& o) noexcept;
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;

  // A non-blocking TCP socket connected to 127.0.0.1:port, or an invalid
  // Sock with *error set (errno: ECONNREFUSED, ETIMEDOUT, EMFILE...).
  // `rcvbuf` > 0 sets SO_RCVBUF before connecting.
  static Sock Connect(int port, Clock::time_point deadline, int* error = nullptr,
                      int rcvbuf = 0);
  // A non-blocking, not yet connected TCP socket (for tests that must own
  // the fd before connecting).
  static Sock Unconnected();
  // Starts (or completes) a non-blocking connect of this socket; returns
  // true when connected before the deadline.
  bool ConnectTo(int port, Clock::time_point deadline, int* error = nullptr);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  int last_error() const { return last_error_; }

  bool SendAll(std::string_view data, Clock::time_point deadline);
  // One send() of up to data.size() bytes once writable: bytes sent, or -1.
  ssize_t SendSome(std::string_view data, Clock::time_point deadline);
  // Up to `max` bytes appended to *out once available: >0 bytes, 0 at EOF,
  // -1 on reset/error/deadline (last_error() says which).
  ssize_t RecvSome(size_t max, std::string* out, Clock::time_point deadline);
  bool RecvExactly(size_t n, std::string* out, Clock::time_point deadline);
  // Sends `data` and expects it back byte-exact.
  bool RoundTrip(std::string_view data, Clock::time_point deadline);
  // Reads (into *out if not null, else counting into *bytes) until the
  // connection ends; says how it ended.
  End ReadUntilClosed(std::string* out, size_t* bytes, Clock::time_point deadline);
  // Waits for the server to end the connection without sending anything:
  // kEof or kReset, kTimeout, or kError if data arrived.
  End WaitClosedEmpty(Clock::time_point deadline);

  void ShutdownWrite();
  // Closes with SO_LINGER {1, 0}: the peer gets a RST, not a FIN.
  void ResetClose();
  void Close();
  // Moves the fd to the lowest free number >= min_fd (F_DUPFD).
  bool MoveAbove(int min_fd);

 private:
  bool WaitReady(short events, Clock::time_point deadline);
  int fd_ = -1;
  int last_error_ = 0;
};

// ---- Server side ----
// Thread-safe record of connection lifecycles, filled on loop threads.
class Lifecycle {
 public:
  void Opened();
  void Closed(const CloseReason& reason);
  int opens() const;
  int closes() const;
  int closes(CloseReason::Kind kind) const;
  // "kind=count ..." for failure messages.
  std::string Summary() const;
  // Waits for closes() >= n.
  bool WaitCloses(int n, Clock::duration timeout) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int opens_ = 0;
  int closes_ = 0;
  std::map<CloseReason::Kind, int> by_kind_;
};

// A handler that records OnOpen/OnClose in a Lifecycle.
class LoggedHandler : public Handler {
 public:
  explicit LoggedHandler(Lifecycle* log) : log_(log) {}
  Action OnOpen(Conn& conn) override {
    log_->Opened();
    return Action::kNone;
  }
  void OnClose(Conn& conn, const CloseReason& reason) override {
    log_->Closed(reason);
  }

 private:
  Lifecycle* log_;
};

// Echoes every byte.
class EchoHandler : public LoggedHandler {
 public:
  using LoggedHandler::LoggedHandler;
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
};

// Echoes complete '\n'-terminated lines and keeps a partial line buffered
// (so a request cut short stays in the connection's inbound ring).
class LineEchoHandler : public LoggedHandler {
 public:
  using LoggedHandler::LoggedHandler;
  Action OnData(Conn& conn) override;
};

// An engine listening on tcp://127.0.0.1:0, started, with its port.
struct Server {
  std::unique_ptr<Engine> engine;
  int port = 0;
};
Server StartServer(const EngineOptions& options, HandlerFactory factory);

// Runs engine.Wait() on a helper thread; true if it returned in `timeout`
// (otherwise calls Stop again and waits anyway).
bool WaitStopped(Engine& engine, Clock::duration timeout);

}  // namespace actnet::fault

#endif  // ACTNET_TESTS_FAULT_FAULT_TESTING_H_
