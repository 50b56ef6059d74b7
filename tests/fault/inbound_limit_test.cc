// An endless line: clients stream bytes at a handler that never finds the
// end of its request and so never consumes them. With max_inbound_buffer =
// 1 MiB each must be cut off (OnClose reason kInboundLimit, the client's
// sends fail), the buffered input must never pass the limit by more than
// one read, memory must stay bounded, and a normal client on the same
// server must be served throughout. Level- and edge-triggered both.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/fault/fault_testing.h"

namespace actnet::fault {
namespace {

constexpr size_t kLimit = 1 << 20;
constexpr size_t kReadSize = 64 * 1024;

// Waits for a '\n' that never comes, except that a connection whose first
// bytes are "echo\n" becomes a line echo.
class Hoarder : public LoggedHandler {
 public:
  Hoarder(Lifecycle* log, std::atomic<size_t>* peak) : LoggedHandler(log), peak_(peak) {}
  Action OnData(Conn& conn) override {
    if (!decided_ && conn.InboundBytes() >= 5) {
      decided_ = true;
      echo_ = conn.Peek(5) == "echo\n";
      if (echo_) conn.Discard(5);
    }
    if (echo_) return echo_lines_.OnData(conn);
    size_t seen = conn.InboundBytes();
    size_t prev = peak_->load();
    while (seen > prev && !peak_->compare_exchange_weak(prev, seen)) {
    }
    return Action::kNone;
  }

 private:
  std::atomic<size_t>* peak_;
  bool decided_ = false;
  bool echo_ = false;
  LineEchoHandler echo_lines_{nullptr};
};

void RunEndlessLines(bool edge_triggered) {
  const int fds_before = CountOpenFds();
  Lifecycle log;
  std::atomic<size_t> peak{0};
  {
    EngineOptions options;
    options.loops = 2;
    options.edge_triggered = edge_triggered;
    options.max_inbound_buffer = kLimit;
    options.read_buffer_size = kReadSize;
    Server server = StartServer(options, [&] {
      return std::make_unique<Hoarder>(&log, &peak);
    });
    Sock normal = Sock::Connect(server.port, After(seconds(10)));
    REQUIRE(normal.valid());
    REQUIRE(normal.SendAll("echo\n", After(seconds(5))));
    REQUIRE(normal.RoundTrip("first\n", After(seconds(10))));
    const int64_t rss_before = RssKib();

    constexpr int kHostile = 4;
    // Far more than the limit plus every socket buffer on the way.
    const size_t kMaxSend = 256u << 20;
    std::vector<size_t> sent(kHostile, 0);
    std::vector<int> errors(kHostile, 0);
    std::vector<std::thread> hostile;
    for (int h = 0; h < kHostile; ++h) {
      hostile.emplace_back([&, h] {
        const std::string chunk(kReadSize, 'x');
        Sock s = Sock::Connect(server.port, After(seconds(10)));
        if (!s.valid()) return;
        while (sent[h] < kMaxSend) {
          const ssize_t n = s.SendSome(chunk, After(seconds(10)));
          if (n < 0) {
            errors[h] = s.last_error();
            return;
          }
          sent[h] += static_cast<size_t>(n);
        }
      });
    }
    // The normal client keeps being served while the hostile ones run.
    int trips = 0;
    bool normal_ok = true;
    for (int i = 0; i < 20 && normal_ok; ++i) {
      normal_ok = normal.RoundTrip("line " + std::to_string(i) + "\n", After(seconds(10)));
      ++trips;
    }
    for (auto& th : hostile) th.join();
    CHECK(normal_ok);
    for (int h = 0; h < kHostile; ++h) {
      INFO("hostile " << h << " sent " << sent[h] << " bytes, errno " << errors[h]);
      CHECK(sent[h] < kMaxSend);
      CHECK((errors[h] == ECONNRESET || errors[h] == EPIPE));
    }
    CHECK_MESSAGE(log.WaitCloses(kHostile, Slack(seconds(5))), log.Summary());
    CHECK_MESSAGE(log.closes(CloseReason::Kind::kInboundLimit) == kHostile, log.Summary());
    INFO("peak buffered input " << peak.load());
    CHECK(peak.load() <= kLimit + kReadSize);
    if (!kSanitized) {  // sanitizer allocators keep freed memory in quarantine
      const int64_t grown_kib = RssKib() - rss_before;
      INFO("RSS grew by " << grown_kib << " KiB");
      CHECK(grown_kib < 32 * 1024);
    }
    CHECK(normal.RoundTrip("after\n", After(seconds(10))));
    CHECK(WaitFor([&] { return server.engine->CountConnections() == 1; }, Slack(seconds(5))));
    INFO(log.Summary() << " count " << server.engine->CountConnections());
    CHECK(server.engine->CountConnections() == 1);
    normal.Close();
    server.engine->Stop();
    CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
  }
  CheckNoFdLeak(fds_before);
}

TEST_SUITE("inbound limit") {
  TEST_CASE("an endless line is cut off at max_inbound_buffer (level-triggered)") {
    RunEndlessLines(false);
  }
  TEST_CASE("an endless line is cut off at max_inbound_buffer (edge-triggered)") {
    RunEndlessLines(true);
  }
}

}  // namespace
}  // namespace actnet::fault
