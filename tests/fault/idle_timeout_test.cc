// Slowloris: connections that connect and then say nothing (or a partial
// request) must be closed by EngineOptions::idle_timeout, with OnClose
// reason kIdle, within a bound, while an active client is served normally
// the whole time and is never mistaken for an idle one.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/fault/fault_testing.h"

namespace actnet::fault {
namespace {

constexpr auto kIdle = milliseconds(200);

EngineOptions IdleOptions() {
  EngineOptions o;
  o.loops = 2;
  o.idle_timeout = absl::Milliseconds(200);
  return o;
}

// Waits until every socket is closed by the peer (EOF or RST) or the
// deadline passes; returns each one's close time (time_point::max() if it
// stayed open, min() if data arrived instead).
std::vector<Clock::time_point> WatchCloses(const std::vector<Sock>& socks,
                                           Clock::time_point deadline) {
  std::vector<Clock::time_point> closed(socks.size(), Clock::time_point::max());
  size_t open = socks.size();
  while (open > 0 && Clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<size_t> index;
    for (size_t i = 0; i < socks.size(); ++i) {
      if (closed[i] != Clock::time_point::max()) continue;
      fds.push_back(pollfd{socks[i].fd(), POLLIN, 0});
      index.push_back(i);
    }
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    const Clock::time_point now = Clock::now();
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      char c;
      const ssize_t n = ::recv(fds[k].fd, &c, 1, MSG_DONTWAIT);
      if (n < 0 && errno == EAGAIN) continue;
      closed[index[k]] = n > 0 ? Clock::time_point::min() : now;
      --open;
    }
  }
  return closed;
}

// Round trips every 50 ms (a quarter of the idle timeout) until `stop`.
struct ActiveClient {
  std::atomic<bool> stop{false};
  std::atomic<int> trips{0};
  std::atomic<int> failures{0};
  std::thread thread;

  void Start(int port) {
    thread = std::thread([this, port] {
      Sock s = Sock::Connect(port, After(seconds(10)));
      if (!s.valid()) {
        failures.fetch_add(1);
        return;
      }
      for (int i = 0; !stop.load(); ++i) {
        if (!s.RoundTrip("ping " + std::to_string(i) + "\n", After(seconds(5)))) {
          failures.fetch_add(1);
          return;
        }
        trips.fetch_add(1);
        // Models a client that is active but not flooding.
        std::this_thread::sleep_for(milliseconds(50));
      }
    });
  }
  void Finish() {
    stop.store(true);
    thread.join();
  }
};

TEST_SUITE("idle timeout") {
  TEST_CASE("50 silent connections are closed as idle while an active one is served") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      Server server = StartServer(IdleOptions(), [&log] {
        return std::make_unique<LineEchoHandler>(&log);
      });
      ActiveClient active;
      active.Start(server.port);
      REQUIRE(WaitFor([&] { return active.trips.load() > 0; }, Slack(seconds(10))));

      constexpr int kSilent = 50;
      std::vector<Sock> silent;
      std::vector<Clock::time_point> connected;
      for (int i = 0; i < kSilent; ++i) {
        silent.push_back(Sock::Connect(server.port, After(seconds(10))));
        REQUIRE(silent.back().valid());
        connected.push_back(Clock::now());
        // One in five sends the start of a request and then stalls.
        if (i % 5 == 0) {
          REQUIRE(silent.back().SendAll("GET /index.html HTTP/1.1 (no end of line)", After(seconds(5))));
        }
      }
      const std::vector<Clock::time_point> closed =
          WatchCloses(silent, Clock::now() + kIdle + Slack(seconds(3)));
      int in_bound = 0;
      int early = 0;
      milliseconds worst{0};
      for (int i = 0; i < kSilent; ++i) {
        const Clock::time_point c = closed[static_cast<size_t>(i)];
        if (c == Clock::time_point::max() || c == Clock::time_point::min()) continue;
        const auto after = std::chrono::duration_cast<milliseconds>(c - connected[static_cast<size_t>(i)]);
        worst = std::max(worst, after);
        // Never before the timeout (a little slack for clock reads on two
        // sides of a loopback handshake), never long after it.
        if (after < kIdle - milliseconds(20)) ++early;
        else if (after <= kIdle + Slack(milliseconds(1500))) ++in_bound;
      }
      INFO("worst close after connect: " << worst.count() << " ms");
      CHECK(early == 0);
      CHECK(in_bound == kSilent);
      CHECK_MESSAGE(log.WaitCloses(kSilent, Slack(seconds(5))), log.Summary());
      CHECK_MESSAGE(log.closes(CloseReason::Kind::kIdle) == kSilent, log.Summary());

      // The active client lives on past several more idle periods.
      const int trips_then = active.trips.load();
      REQUIRE(WaitFor([&] { return active.trips.load() >= trips_then + 8; },
                      Slack(seconds(10))));
      CHECK(server.engine->CountConnections() == 1);
      active.Finish();
      CHECK(active.failures.load() == 0);
      CHECK(log.WaitCloses(kSilent + 1, Slack(seconds(5))));
      CHECK_MESSAGE(log.closes(CloseReason::Kind::kIdle) == kSilent, log.Summary());
      CHECK(log.closes(CloseReason::Kind::kPeerClosed) == 1);
      silent.clear();
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("a connection receiving a long reply it reads slowly is not idle") {
    // Bytes written count as activity: a client draining a big reply in
    // pauses shorter than the timeout must not be cut off mid-reply.
    class Big : public LoggedHandler {
     public:
      using LoggedHandler::LoggedHandler;
      Action OnOpen(Conn& conn) override {
        // A small send buffer, so the reply leaves the connection's queue
        // only as fast as the client reads it.
        (void)conn.SetSendBufferSize(32 * 1024);
        return LoggedHandler::OnOpen(conn);
      }
      Action OnData(Conn& conn) override {
        conn.Discard();
        conn.Write(PatternView(4 << 20));
        return Action::kNone;
      }
    };
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      Server server = StartServer(IdleOptions(), [&log] {
        return std::make_unique<Big>(&log);
      });
      Sock s = Sock::Connect(server.port, After(seconds(10)), nullptr, 32 * 1024);
      REQUIRE(s.valid());
      REQUIRE(s.SendAll("g", After(seconds(5))));
      std::string got;
      const Clock::time_point start = Clock::now();
      while (got.size() < (4u << 20)) {
        if (s.RecvSome(32 * 1024, &got, After(seconds(10))) <= 0) break;
        // Paced reader: well under the idle timeout between reads.
        if (Clock::now() - start < milliseconds(600)) {
          std::this_thread::sleep_for(milliseconds(60));
        }
      }
      // Checked first: once the reply is all read the connection is idle
      // for real, and a slow comparison could outlast the timeout.
      CHECK(log.closes() == 0);
      CHECK(got.size() == (4u << 20));
      CHECK(got == PatternView(4 << 20));
      s.Close();
      CHECK(log.WaitCloses(1, Slack(seconds(5))));
      CHECK_MESSAGE(log.closes(CloseReason::Kind::kPeerClosed) == 1, log.Summary());
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }
}

}  // namespace
}  // namespace actnet::fault
