// Clients that break the rules while others play by them: resets in the
// middle of a request or a response, half-closes, one byte per segment.
// The well-behaved clients must be served byte-exact throughout, every
// OnOpen must pair with an OnClose, and no fd may leak.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/fault/fault_testing.h"

namespace actnet::fault {
namespace {

EngineOptions TwoLoops() {
  EngineOptions o;
  o.loops = 2;
  return o;
}

// "big N\n" answers N pattern bytes; other lines are echoed.
class BigOrEcho : public LoggedHandler {
 public:
  using LoggedHandler::LoggedHandler;
  Action OnData(Conn& conn) override {
    for (;;) {
      const absl::string_view in = conn.Peek();
      const size_t eol = in.find('\n');
      if (eol == absl::string_view::npos) return Action::kNone;
      if (in.substr(0, 4) == "big ") {
        const size_t n = std::stoul(std::string(in.substr(4, eol - 4)));
        conn.Discard(eol + 1);
        conn.Write(PatternView(n));
      } else {
        conn.Write(in.substr(0, eol + 1));
        conn.Discard(eol + 1);
      }
    }
  }
};

// Well-behaved line clients doing round trips until `stop`; counts
// failures.
void ServeLines(int port, int id, const std::atomic<bool>& stop,
                std::atomic<int>* failures, std::atomic<int>* trips) {
  Sock s = Sock::Connect(port, After(seconds(10)));
  if (!s.valid()) {
    failures->fetch_add(1);
    return;
  }
  for (int i = 0; !stop.load() || i < 5; ++i) {
    const std::string line = "client " + std::to_string(id) + " line " +
                             std::to_string(i) + std::string(i % 97, 'x') + "\n";
    if (!s.RoundTrip(line, After(seconds(10)))) {
      failures->fetch_add(1);
      return;
    }
    trips->fetch_add(1);
  }
}

TEST_SUITE("misbehaving clients") {
  TEST_CASE("clients resetting mid-request do not disturb the others") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      Server server = StartServer(TwoLoops(), [&log] {
        return std::make_unique<LineEchoHandler>(&log);
      });
      std::atomic<bool> stop{false};
      std::atomic<int> failures{0};
      std::atomic<int> trips{0};
      std::vector<std::thread> good;
      for (int i = 0; i < 4; ++i) {
        good.emplace_back(ServeLines, server.port, i, std::cref(stop), &failures, &trips);
      }
      // Resetters: a partial line (the server keeps it buffered), then RST.
      const int kResets = static_cast<int>(Scaled(400, 100));
      std::atomic<int> reset_connects{0};
      std::vector<std::thread> resetters;
      for (int t = 0; t < 2; ++t) {
        resetters.emplace_back([&, t] {
          std::mt19937_64 rng(t);
          for (int i = 0; i < kResets / 2; ++i) {
            Sock s = Sock::Connect(server.port, After(seconds(10)));
            if (!s.valid()) continue;
            reset_connects.fetch_add(1);
            const std::string partial(1 + rng() % 3000, 'p');
            s.SendAll(partial, After(seconds(5)));
            s.ResetClose();
          }
        });
      }
      for (auto& th : resetters) th.join();
      stop.store(true);
      for (auto& th : good) th.join();
      CHECK(failures.load() == 0);
      CHECK(reset_connects.load() == kResets);
      CHECK(trips.load() >= 20);
      const int expected = kResets + 4;
      CHECK_MESSAGE(log.WaitCloses(expected, Slack(seconds(10))), log.Summary());
      CHECK(log.opens() == expected);
      CHECK(WaitFor([&] { return server.engine->CountConnections() == 0; },
                    Slack(seconds(5))));
      // Still serving after all that.
      Sock after = Sock::Connect(server.port, After(seconds(10)));
      CHECK(after.RoundTrip("still here\n", After(seconds(10))));
      after.Close();
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("clients resetting mid-response do not disturb the others") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      Server server = StartServer(TwoLoops(), [&log] {
        return std::make_unique<BigOrEcho>(&log);
      });
      std::atomic<bool> stop{false};
      std::atomic<int> failures{0};
      std::atomic<int> trips{0};
      std::vector<std::thread> good;
      for (int i = 0; i < 2; ++i) {
        good.emplace_back(ServeLines, server.port, i, std::cref(stop), &failures, &trips);
      }
      // Each asks for 8 MiB (more than the socket buffers hold, so the
      // server has output queued), reads a little, then resets.
      const int kResets = static_cast<int>(Scaled(60, 15));
      int started = 0;
      for (int i = 0; i < kResets; ++i) {
        Sock s = Sock::Connect(server.port, After(seconds(10)), nullptr, 32 * 1024);
        REQUIRE(s.valid());
        REQUIRE(s.SendAll("big 8388608\n", After(seconds(5))));
        std::string got;
        if (s.RecvExactly(1 + static_cast<size_t>(i) * 997, &got, After(seconds(10))) &&
            got == PatternView(got.size())) {
          ++started;
        }
        s.ResetClose();
      }
      stop.store(true);
      for (auto& th : good) th.join();
      CHECK(failures.load() == 0);
      CHECK(started == kResets);
      CHECK_MESSAGE(log.WaitCloses(kResets + 2, Slack(seconds(10))), log.Summary());
      CHECK(log.opens() == kResets + 2);
      CHECK(WaitFor([&] { return server.engine->CountConnections() == 0; },
                    Slack(seconds(5))));
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("a half-closed client still gets every byte echoed, then EOF") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      Server server = StartServer(TwoLoops(), [&log] {
        return std::make_unique<EchoHandler>(&log);
      });
      const size_t kSize = kSanitized ? (1 << 20) : (4 << 20);
      constexpr int kClients = 6;
      std::atomic<int> ok{0};
      std::vector<std::thread> clients;
      for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
          std::mt19937_64 rng(100 + c);
          std::string data(kSize, '\0');
          for (auto& ch : data) ch = static_cast<char>(rng());
          Sock s = Sock::Connect(server.port, After(seconds(10)));
          if (!s.valid()) return;
          std::thread sender([&] {
            // Odd-sized pieces, then FIN.
            size_t off = 0;
            while (off < data.size()) {
              const size_t n = std::min<size_t>(data.size() - off, 1 + rng() % 70000);
              if (!s.SendAll(std::string_view(data).substr(off, n), After(seconds(20)))) break;
              off += n;
            }
            s.ShutdownWrite();
          });
          std::string back;
          const End end = s.RecvUntilClosed(&back, nullptr, After(seconds(30)));
          sender.join();
          if (end == End::kEof && back == data) ok.fetch_add(1);
        });
      }
      for (auto& th : clients) th.join();
      CHECK(ok.load() == kClients);
      CHECK(log.WaitCloses(kClients, Slack(seconds(5))));
      CHECK(log.closes(CloseReason::Kind::kPeerClosed) == kClients);
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("a client that half-closes before the server reads gets its reply") {
    // The request and the FIN arrive together; the reply must still be
    // written before the server closes.
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      Server server = StartServer(TwoLoops(), [&log] {
        return std::make_unique<BigOrEcho>(&log);
      });
      for (int i = 0; i < 20; ++i) {
        Sock s = Sock::Connect(server.port, After(seconds(10)));
        REQUIRE(s.valid());
        const size_t n = 1 + static_cast<size_t>(i) * 150000;
        REQUIRE(s.SendAll("big " + std::to_string(n) + "\n", After(seconds(5))));
        s.ShutdownWrite();
        std::string got;
        CHECK(s.RecvUntilClosed(&got, nullptr, After(seconds(20))) == End::kEof);
        CHECK(got.size() == n);
        CHECK(got == PatternView(n));
      }
      CHECK(log.WaitCloses(20, Slack(seconds(5))));
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }

  TEST_CASE("one byte at a time is echoed byte-exact, by byte and by line") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      std::atomic<int> which{0};
      Server server = StartServer(TwoLoops(), [&]() -> std::unique_ptr<Handler> {
        if (which.fetch_add(1) % 2 == 0) return std::make_unique<EchoHandler>(&log);
        return std::make_unique<LineEchoHandler>(&log);
      });
      constexpr int kClients = 4;
      const size_t kBytes = static_cast<size_t>(Scaled(3000, 750));
      std::atomic<int> ok{0};
      std::vector<std::thread> clients;
      // Connect in order so even clients get the byte echo, odd the lines.
      std::vector<Sock> socks;
      for (int c = 0; c < kClients; ++c) {
        socks.push_back(Sock::Connect(server.port, After(seconds(10))));
        REQUIRE(socks.back().valid());
        REQUIRE(socks.back().RoundTrip("hello\n", After(seconds(10))));
      }
      for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
          Sock& s = socks[static_cast<size_t>(c)];
          std::mt19937_64 rng(c);
          std::string data(kBytes, '\0');
          for (size_t i = 0; i < kBytes; ++i) {
            data[i] = rng() % 16 == 0 ? '\n' : static_cast<char>('a' + rng() % 26);
          }
          data.back() = '\n';
          std::thread sender([&] {
            for (char ch : data) {
              if (s.SendSome(std::string_view(&ch, 1), After(seconds(10))) != 1) return;
            }
          });
          std::string back;
          s.RecvExactly(kBytes, &back, After(seconds(60)));
          sender.join();
          if (back == data) ok.fetch_add(1);
        });
      }
      for (auto& th : clients) th.join();
      CHECK(ok.load() == kClients);
      socks.clear();
      CHECK(log.WaitCloses(kClients, Slack(seconds(5))));
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }
}

}  // namespace
}  // namespace actnet::fault
