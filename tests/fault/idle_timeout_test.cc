// Slowloris: connections that connect and then say nothing (or a partial
// request) must be closed by EngineOptions::idle_timeout, with OnClose
// reason kIdle, never before the timeout (measured from the loop clock the
// server opened them at), while an active client is served normally the
// whole time and is never mistaken for an idle one.
//
// No assertion depends on the schedule. A client thread that a loaded
// machine holds up for an idle period is idle to the server, so "never
// mistaken" is asserted for clients whose longest pause between two
// exchanges stayed under half the timeout (the other half covers a server
// that reads a message a loop iteration late).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
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

// Tracks the longest stretch between two events of a client, bounded from
// above: from before one event to after the next.
class LongestGap {
 public:
  // The first stretch runs from now (when the connection is made).
  void Start() { previous_ = Clock::now(); }
  // Call just before an event (a send, a read) and AfterEvent just after.
  void BeforeEvent() { before_ = Clock::now(); }
  void AfterEvent() {
    const Clock::time_point now = Clock::now();
    if (previous_ != Clock::time_point()) longest_ = std::max(longest_, now - previous_);
    previous_ = before_;
  }
  Clock::duration longest() const { return longest_; }

 private:
  Clock::time_point before_;
  Clock::time_point previous_;
  Clock::duration longest_{};
};

// Round trips every 50 ms (a quarter of the idle timeout) until `stop`.
struct ActiveClient {
  std::atomic<bool> stop{false};
  std::atomic<int> trips{0};
  std::atomic<int> failures{0};
  LongestGap pings;  // read after Finish
  std::thread thread;

  void Start(int port) {
    thread = std::thread([this, port] {
      pings.Start();
      Sock s = Sock::Connect(port, After(seconds(10)));
      if (!s.valid()) {
        failures.fetch_add(1);
        return;
      }
      for (int i = 0; !stop.load(); ++i) {
        const std::string line = "ping " + std::to_string(i) + "\n";
        pings.BeforeEvent();
        const bool sent = s.SendAll(line, After(seconds(5)));
        pings.AfterEvent();
        std::string back;
        if (!sent || !s.RecvExactly(line.size(), &back, After(seconds(5))) || back != line) {
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

// The loop clock each connection was opened at, by the client's port: the
// idle timer starts from it.
class OpenClocks {
 public:
  void Opened(uint16_t port, int64_t ns) {
    std::lock_guard<std::mutex> lock(mu_);
    at_[port] = ns;
  }
  // Clock::time_point::max() for a port never opened.
  Clock::time_point At(uint16_t port) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = at_.find(port);
    if (it == at_.end()) return Clock::time_point::max();
    return Clock::time_point(std::chrono::nanoseconds(it->second));
  }

 private:
  mutable std::mutex mu_;
  std::map<uint16_t, int64_t> at_;
};

class ClockedLineEcho : public LineEchoHandler {
 public:
  ClockedLineEcho(Lifecycle* log, OpenClocks* opened) : LineEchoHandler(log), opened_(opened) {}
  Action OnOpen(Conn& conn) override {
    opened_->Opened(conn.remote_address().port(), conn.loop().now_ns());
    return LineEchoHandler::OnOpen(conn);
  }

 private:
  OpenClocks* opened_;
};

uint16_t LocalPort(const Sock& s) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

TEST_SUITE("idle timeout") {
  TEST_CASE("50 silent connections are closed as idle while an active one is served") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      OpenClocks opened;
      Server server = StartServer(IdleOptions(), [&log, &opened] {
        return std::make_unique<ClockedLineEcho>(&log, &opened);
      });
      ActiveClient active;
      active.Start(server.port);
      REQUIRE(WaitFor([&] { return active.trips.load() > 0 || active.failures.load() > 0; },
                      Slack(seconds(10))));

      constexpr int kSilent = 50;
      std::vector<Sock> silent;
      for (int i = 0; i < kSilent; ++i) {
        silent.push_back(Sock::Connect(server.port, After(seconds(10))));
        REQUIRE(silent.back().valid());
        // One in five sends the start of a request and then stalls.
        if (i % 5 == 0) {
          REQUIRE(silent.back().SendAll("GET /index.html HTTP/1.1 (no end of line)", After(seconds(5))));
        }
      }
      // The deadline only bounds the wait; each socket closes when it does.
      const std::vector<Clock::time_point> closed =
          WatchCloses(silent, Clock::now() + kIdle + Slack(seconds(10)));
      int closed_idle = 0;
      int early = 0;
      milliseconds worst{0};
      for (int i = 0; i < kSilent; ++i) {
        const Clock::time_point c = closed[static_cast<size_t>(i)];
        if (c == Clock::time_point::max() || c == Clock::time_point::min()) continue;
        ++closed_idle;
        // Never before the timeout: the server closes at a loop clock at
        // least idle_timeout past the one it opened the connection at, and
        // this thread sees the close after that.
        const Clock::time_point open = opened.At(LocalPort(silent[static_cast<size_t>(i)]));
        if (open == Clock::time_point::max() || c - open < kIdle) {
          ++early;  // (never opened: closed before its OnOpen, earlier still)
          continue;
        }
        worst = std::max(worst, std::chrono::duration_cast<milliseconds>(c - open));
      }
      INFO("latest close after open: " << worst.count() << " ms");
      CHECK(early == 0);
      CHECK(closed_idle == kSilent);
      CHECK_MESSAGE(log.WaitCloses(kSilent, Slack(seconds(5))), log.Summary());
      CHECK_MESSAGE(log.closes(CloseReason::Kind::kIdle) >= kSilent, log.Summary());

      // The active client lives on past several more idle periods.
      const int trips_then = active.trips.load();
      REQUIRE(WaitFor([&] { return active.trips.load() >= trips_then + 8 || active.failures.load() > 0; },
                      Slack(seconds(10))));
      // Every silent one has gone (the count drops just after OnClose).
      const int64_t active_open = active.failures.load() == 0 ? 1 : 0;
      CHECK(WaitFor([&] { return server.engine->CountConnections() == active_open; }));
      active.Finish();
      CHECK(log.WaitCloses(kSilent + 1, Slack(seconds(5))));
      const auto longest = std::chrono::duration_cast<milliseconds>(active.pings.longest());
      INFO("the active client's longest stretch between pings: " << longest.count() << " ms; "
           << log.Summary());
      if (longest < kIdle / 2) {
        CHECK(active.failures.load() == 0);
        CHECK(log.closes(CloseReason::Kind::kIdle) == kSilent);
        CHECK(log.closes(CloseReason::Kind::kPeerClosed) == 1);
      }
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
      LongestGap reads;
      reads.Start();  // the request is the client's last activity
      const Clock::time_point start = Clock::now();
      while (got.size() < (4u << 20)) {
        reads.BeforeEvent();
        const ssize_t n = s.RecvSome(32 * 1024, &got, After(seconds(10)));
        reads.AfterEvent();
        if (n <= 0) break;
        // Paced reader: well under the idle timeout between reads.
        if (Clock::now() - start < milliseconds(600)) {
          std::this_thread::sleep_for(milliseconds(60));
        }
      }
      const auto longest = std::chrono::duration_cast<milliseconds>(reads.longest());
      INFO("longest stretch between reads: " << longest.count() << " ms");
      // While the client reads, the server writes; so the reply is cut off
      // only if this thread was held up between two reads (see the top).
      if (longest < kIdle / 2) {
        CHECK(got.size() == (4u << 20));
        CHECK(got == PatternView(4 << 20));
      }
      // Once the whole reply is out the connection is idle for real: the
      // close is the client's, or an idle one if this thread was slow to
      // send it.
      s.Close();
      CHECK(log.WaitCloses(1, Slack(seconds(5))));
      CHECK_MESSAGE(log.closes(CloseReason::Kind::kPeerClosed) +
                            log.closes(CloseReason::Kind::kIdle) ==
                        1,
                    log.Summary());
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }
}

}  // namespace
}  // namespace actnet::fault
