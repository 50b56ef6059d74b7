// A `?reuseport=true` address on four loops: one listening socket and one
// Listener per loop, the kernel choosing among them by 4-tuple hash. Every
// loop accepts and serves what it accepts, and each listener counts the
// connections it turns away over max_connections in its own loop's
// LoopStats::rejected. Those counters once shared one plain counter written
// by every loop, a data race that TSan reports; the test connects from
// several threads so that the loops refuse at the same time.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

constexpr int kLoops = 4;
constexpr char kUrl[] = "tcp://127.0.0.1:0?reuseport=true";

Clock::time_point Soon() { return Clock::now() + seconds(20); }

// Greets each connection with its loop's index (one digit), then echoes.
class LoopTaggedEcho : public EchoHandler {
 public:
  Action OnOpen(Conn& conn) override {
    conn.Write(std::string(1, static_cast<char>('0' + conn.loop().index())));
    return Action::kNone;
  }
};

// Connects and reads the greeting: the serving loop's index, or -1.
int ConnectTagged(const std::string& url, Client* out) {
  *out = Client::Connect(url);
  std::string tag;
  if (!out->valid() || !out->RecvExactly(1, &tag, Soon())) return -1;
  const int loop = tag[0] - '0';
  return loop >= 0 && loop < kLoops ? loop : -1;
}

uint64_t TotalRejected(const Engine& engine) {
  uint64_t total = 0;
  for (const LoopStats& s : engine.Stats()) total += s.rejected;
  return total;
}

TEST_CASE("with reuseport every loop accepts connections and echoes on them") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(Loops(kLoops));
    REQUIRE(engine.Listen<LoopTaggedEcho>(kUrl).ok());
    REQUIRE(engine.Start().ok());
    const std::string url = FirstAddress(engine);

    // The kernel hashes each 4-tuple to a socket: keep connecting until
    // every loop has one (a few dozen suffice; the bound only stops a bug).
    std::array<std::vector<Client>, kLoops> by_loop;
    auto all_served = [&] {
      for (const auto& clients : by_loop) {
        if (clients.empty()) return false;
      }
      return true;
    };
    const Clock::time_point deadline = Clock::now() + seconds(30);
    int attempts = 0;
    while (!all_served() && attempts < 400 && Clock::now() < deadline) {
      ++attempts;
      Client c;
      const int loop = ConnectTagged(url, &c);
      REQUIRE(loop >= 0);
      by_loop[static_cast<size_t>(loop)].push_back(std::move(c));
    }
    INFO("connections made: ", attempts);
    REQUIRE(all_served());

    const std::vector<LoopStats> stats = engine.Stats();
    REQUIRE(stats.size() == kLoops);
    for (int i = 0; i < kLoops; ++i) {
      CAPTURE(i);
      CHECK(stats[static_cast<size_t>(i)].connections ==
            static_cast<int64_t>(by_loop[static_cast<size_t>(i)].size()));
    }
    for (int i = 0; i < kLoops; ++i) {
      CAPTURE(i);
      Client& c = by_loop[static_cast<size_t>(i)].front();
      CHECK(c.RoundTrip("echo from loop " + std::to_string(i), Soon()));
    }
    for (auto& clients : by_loop) clients.clear();
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }));
    engine.Stop();
    CHECK(WaitWithin(engine, seconds(10)));
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("connections over max_connections are refused by whichever loop accepts them, and the loops' rejected counters add up") {
  constexpr int kLimit = 8;
  constexpr int kThreads = 4;
  constexpr int kExtraPerThread = 10;
  constexpr int kExtra = kThreads * kExtraPerThread;
  const int fds_before = CountOpenFds();
  {
    EngineOptions options = Loops(kLoops);
    options.max_connections = kLimit;
    Engine engine(options);
    REQUIRE(engine.Listen<LoopTaggedEcho>(kUrl).ok());
    REQUIRE(engine.Start().ok());
    const std::string url = FirstAddress(engine);

    std::vector<Client> admitted(kLimit);
    for (Client& c : admitted) REQUIRE(ConnectTagged(url, &c) >= 0);
    CHECK(engine.CountConnections() == kLimit);

    // The rest arrive at once from several threads; each must be closed
    // without a byte (the greeting would mean it was admitted).
    std::atomic<int> refused{0};
    std::atomic<int> served{0};
    std::atomic<int> other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kExtraPerThread; ++i) {
          Client c = Client::Connect(url);
          std::string got;
          const ssize_t n = c.valid() ? c.RecvSome(1, &got, Soon()) : -1;
          if (n == 0 || (n < 0 && c.last_error() == ECONNRESET)) {
            refused.fetch_add(1);
          } else if (n > 0) {
            served.fetch_add(1);
          } else {
            other.fetch_add(1);
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    CHECK(served.load() == 0);
    CHECK(other.load() == 0);
    CHECK(refused.load() == kExtra);

    // A loop counts a refusal before it closes the socket, so the last
    // count may still be landing; it must then be exact.
    WaitFor([&] { return TotalRejected(engine) >= static_cast<uint64_t>(kExtra); });
    CHECK(TotalRejected(engine) == static_cast<uint64_t>(kExtra));
    int loops_refusing = 0;
    for (const LoopStats& s : engine.Stats()) loops_refusing += s.rejected > 0 ? 1 : 0;
    INFO("loops that refused connections: ", loops_refusing);
    CHECK(loops_refusing >= 2);  // 40 hashes landing on one loop: ~1e-23

    for (Client& c : admitted) CHECK(c.RoundTrip("still served", Soon()));
    CHECK(engine.CountConnections() == kLimit);
    admitted.clear();
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }));
    engine.Stop();
    CHECK(WaitWithin(engine, seconds(10)));
  }
  CheckNoFdLeak(fds_before);
}

}  // namespace
}  // namespace actnet::integration
