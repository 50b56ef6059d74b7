// max_connections = 100: connections beyond the limit are accepted and
// closed without being opened (the client sees EOF without a byte), are never opened to
// the handler, and the first 100 keep working; once some close, new ones
// are admitted again. Also when the excess arrives in one burst, across
// loops.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/fault/fault_testing.h"

namespace actnet::fault {
namespace {

constexpr int kLimit = 100;

// Line echo that also tracks how many connections are open at once.
class Counted : public LineEchoHandler {
 public:
  Counted(Lifecycle* log, std::atomic<int>* open, std::atomic<int>* peak)
      : LineEchoHandler(log), open_(open), peak_(peak) {}
  Action OnOpen(Conn& conn) override {
    const int now = open_->fetch_add(1) + 1;
    int prev = peak_->load();
    while (now > prev && !peak_->compare_exchange_weak(prev, now)) {
    }
    return LineEchoHandler::OnOpen(conn);
  }
  void OnClose(Conn& conn, const CloseReason& reason) override {
    open_->fetch_sub(1);
    LineEchoHandler::OnClose(conn, reason);
  }

 private:
  std::atomic<int>* open_;
  std::atomic<int>* peak_;
};

// The listening socket on `port` in this process (found through
// /proc/self/fd), or -1.
int FindListener(int port) {
  for (int fd = 0; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_in addr{};
    socklen_t alen = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) == 0 &&
        addr.sin_family == AF_INET && ntohs(addr.sin_port) == port) {
      return fd;
    }
  }
  return -1;
}

// Connections waiting in the listener's accept queue (TCP_INFO on a
// listening socket reports it as tcpi_unacked), or -1.
int AcceptQueueLength(int port) {
  const int fd = FindListener(port);
  if (fd < 0) return -1;
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
  return static_cast<int>(info.tcpi_unacked);
}

struct Limited {
  Lifecycle log;
  std::atomic<int> open{0};
  std::atomic<int> peak{0};
  Server server;

  explicit Limited(int loops) {
    EngineOptions options;
    options.loops = loops;
    options.max_connections = kLimit;
    server = StartServer(options, [this] {
      return std::make_unique<Counted>(&log, &open, &peak);
    });
  }
};

TEST_SUITE("max connections") {
  TEST_CASE("the 101st to 150th connections are closed at once, the first 100 keep working") {
    const int fds_before = CountOpenFds();
    {
      Limited l(2);
      std::vector<Sock> admitted;
      for (int i = 0; i < kLimit; ++i) {
        admitted.push_back(Sock::Connect(l.server.port, After(seconds(10))));
        REQUIRE(admitted.back().valid());
        REQUIRE(admitted.back().RoundTrip("hi " + std::to_string(i) + "\n", After(seconds(10))));
      }
      CHECK(l.server.engine->CountConnections() == kLimit);
      int refused_eof = 0;
      for (int i = kLimit; i < 150; ++i) {
        Sock s = Sock::Connect(l.server.port, After(seconds(10)));
        REQUIRE(s.valid());  // the kernel completes the handshake
        // Nothing else (no idle timeout) would close it: the deadline only
        // bounds the wait.
        const End end = s.WaitClosedEmpty(After(seconds(10)));
        INFO("connection " << i << ": " << EndName(end));
        CHECK(end == End::kEof);
        if (end == End::kEof) ++refused_eof;
      }
      CHECK(refused_eof == 50);
      CHECK(l.log.opens() == kLimit);
      for (int i = 0; i < kLimit; ++i) {
        CHECK(admitted[static_cast<size_t>(i)].RoundTrip("again\n", After(seconds(10))));
      }
      // Ten leave; ten newcomers are admitted and served.
      for (int i = 0; i < 10; ++i) admitted[static_cast<size_t>(i)].Close();
      REQUIRE(WaitFor([&] { return l.server.engine->CountConnections() == kLimit - 10; },
                      Slack(seconds(5))));
      for (int i = 0; i < 10; ++i) {
        admitted[static_cast<size_t>(i)] = Sock::Connect(l.server.port, After(seconds(10)));
        CHECK(admitted[static_cast<size_t>(i)].RoundTrip("new\n", After(seconds(10))));
      }
      CHECK(l.log.opens() == kLimit + 10);
      CHECK(l.peak.load() == kLimit);
      admitted.clear();
      CHECK(l.log.WaitCloses(kLimit + 10, Slack(seconds(5))));
      CHECK(WaitFor([&] { return l.server.engine->CountConnections() == 0; }, Slack(seconds(5))));
      l.server.engine->Stop();
      CHECK(WaitStopped(*l.server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("a burst of 150 connections admits at most 100, even while a loop is busy") {
    // With two loops the listener (on loop 0) hands every other connection
    // to loop 1. Loop 1 is kept busy (a task blocking it) while the burst is
    // accepted, as a handler doing real work would keep it: the listener
    // must still count the connections it has handed over but loop 1 has
    // not registered yet.
    const int fds_before = CountOpenFds();
    for (int loops : {1, 2}) {
      CAPTURE(loops);
      Limited l(loops);
      std::mutex mu;
      std::condition_variable cv;
      bool blocked = false;
      bool release = false;
      if (loops == 2) {
        REQUIRE(l.server.engine->Post(1, [&](EventLoop&) {
          std::unique_lock<std::mutex> lock(mu);
          blocked = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
        }).ok());
        std::unique_lock<std::mutex> lock(mu);
        REQUIRE(cv.wait_for(lock, Slack(seconds(10)), [&] { return blocked; }));
      }
      std::vector<Sock> socks;
      for (int i = 0; i < 150; ++i) {
        socks.push_back(Sock::Unconnected());
        REQUIRE(socks.back().valid());
      }
      std::vector<std::thread> connectors;
      for (int t = 0; t < 3; ++t) {
        connectors.emplace_back([&, t] {
          for (int i = t; i < 150; i += 3) socks[static_cast<size_t>(i)].ConnectTo(l.server.port, After(seconds(10)));
        });
      }
      for (auto& th : connectors) th.join();
      // Loop 0 accepts (or refuses) the whole burst while loop 1 is blocked.
      REQUIRE(WaitFor([&] { return AcceptQueueLength(l.server.port) == 0; }, Slack(seconds(10))));
      {
        std::lock_guard<std::mutex> lock(mu);
        release = true;
      }
      cv.notify_all();
      int served = 0;
      int refused = 0;
      int other = 0;
      for (Sock& s : socks) {
        if (s.RoundTrip("x\n", After(seconds(5)))) {
          ++served;
        } else if (s.last_error() == ECONNRESET || s.last_error() == EPIPE ||
                   s.last_error() == 0 /* EOF */) {
          ++refused;
        } else {
          ++other;
        }
      }
      INFO("served " << served << " refused " << refused << " other " << other
                     << " peak open " << l.peak.load());
      CHECK(other == 0);
      CHECK(served + refused == 150);
      CHECK(served <= kLimit);
      CHECK(l.peak.load() <= kLimit);
      CHECK(served >= kLimit / 2);
      socks.clear();
      CHECK(WaitFor([&] { return l.server.engine->CountConnections() == 0; }, Slack(seconds(5))));
      l.server.engine->Stop();
      CHECK(WaitStopped(*l.server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }
}

}  // namespace
}  // namespace actnet::fault
