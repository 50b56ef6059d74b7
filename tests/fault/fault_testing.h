// Helpers for the fault-injection tests: an engine started on an ephemeral
// TCP port, lifecycle logging, echo handlers, and a deterministic response
// pattern. The hostile loopback clients (resets, half-closes, trickles,
// sockets that never speak) are testutil::Client sockets, here called
// Sock; every blocking call takes a deadline and reports failure instead of
// hanging. Process measurements (open fds, RSS, CPU time) and WaitFor come
// from tests/testing/common.h, the sanitizer scale (Slack, After) from
// tests/testing/test_scale.h.
#ifndef ACTNET_TESTS_FAULT_FAULT_TESTING_H_
#define ACTNET_TESTS_FAULT_FAULT_TESTING_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "actnet.h"
#include "tests/testing/client.h"
#include "tests/testing/common.h"
#include "tests/testing/test_scale.h"

namespace actnet::fault {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::After;
using testing::kSanitized;
using testing::Scaled;
using testing::Slack;
using testutil::CheckNoFdLeak;
using testutil::CountOpenFds;
using testutil::End;
using testutil::EndName;
using testutil::ProcessCpuSeconds;
using testutil::RssKib;
using testutil::WaitFor;
// A hostile or well-behaved client socket.
using Sock = testutil::Client;

// Byte i of the deterministic response pattern.
inline char PatternByte(uint64_t i) {
  return static_cast<char>((i * 131 + (i >> 12) + 7) & 0xff);
}
std::string Pattern(size_t n);
// The first n (at most kMaxPatternView) pattern bytes, from a buffer built
// once per process (cheap even under sanitizers).
inline constexpr size_t kMaxPatternView = 16 << 20;
absl::string_view PatternView(size_t n);

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
