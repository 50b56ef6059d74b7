// Helpers for the loopback integration tests: an echo handler, connection
// lifecycle logs, waiting for an engine to stop, holding a loop's thread,
// and CPU confinement. Client sockets (testutil::Client), the open-fd count
// for leak checks, temporary directories and waiting with a failure
// timeout come from tests/testing, as does the sanitizer scale (Scaled).
#ifndef ACTNET_TESTS_INTEGRATION_TESTING_H_
#define ACTNET_TESTS_INTEGRATION_TESTING_H_

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actnet.h"
#include "tests/testing/client.h"
#include "tests/testing/common.h"
#include "tests/testing/test_scale.h"

namespace actnet::integration {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kSanitized;
using testing::Scaled;
using testing::Slack;
using testutil::CheckNoFdLeak;
using testutil::Client;
using testutil::CountOpenFds;
using testutil::RandomBytes;
using testutil::TempDir;
using testutil::WaitFor;

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft
// limit.
int64_t RaiseFdLimit();

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
