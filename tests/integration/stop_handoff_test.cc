// Stop while clients keep connecting to a two-loop engine. The listener on
// loop 0 hands every other accepted socket to loop 1 (round-robin) as a
// task that owns the fd; a hand-off in flight when loop 1 stops, or sent
// after it has, must still close its socket. A lost one would leave its
// client waiting for ever and leak the fd. So every client connection must
// end (EOF, reset, or refused), none may hang, the process must hold no fd
// more after Wait, and once Wait returns nobody listens any more.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <errno.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

// What happened to one client thread's connections.
struct Tally {
  std::vector<Client> open;  // connected and kept; their ends are checked later
  int dropped = 0;           // connected past the cap and closed at once
  std::atomic<int> refused{0};
  std::vector<std::string> errors;  // any other connect failure
};

// Connects in a tight loop until `done`, keeping the first `cap` clients.
void ConnectUntil(const std::string& url, const std::atomic<bool>& done,
                  size_t cap, Tally* tally) {
  while (!done.load()) {
    std::string error;
    Client c = Client::Connect(url, &error, seconds(10));
    if (c.valid()) {
      if (tally->open.size() < cap) {
        tally->open.push_back(std::move(c));
      } else {
        ++tally->dropped;
      }
    } else if (error.find(std::strerror(ECONNREFUSED)) != std::string::npos) {
      tally->refused.fetch_add(1);
    } else {
      tally->errors.push_back(error);
    }
  }
}

enum class End { kEof, kReset, kHung, kOther };

// Waits for the server to end the connection (the client sends nothing).
End WaitForEnd(Client& c, Clock::time_point deadline) {
  std::string ignored;
  for (;;) {
    const ssize_t n = c.RecvSome(4096, &ignored, deadline);
    if (n > 0) continue;
    if (n == 0) return End::kEof;
    if (c.last_error() == ECONNRESET) return End::kReset;
    return c.last_error() == ETIMEDOUT ? End::kHung : End::kOther;
  }
}

TEST_CASE("Stop while clients connect: every connection ends, no fd leaks, later connects are refused") {
  constexpr int kThreads = 2;
  // Each held connection costs up to two fds here (client and server side).
  const size_t cap = static_cast<size_t>(
      std::clamp<int64_t>((RaiseFdLimit() - 200) / (2 * kThreads), 50, 500));
  const int fds_before = CountOpenFds();
  std::vector<Tally> tallies(kThreads);
  {
    EngineOptions options = Loops(2);
    options.cohost_loops = false;  // a thread per loop: real cross-thread hand-offs
    options.balancer = balance::Strategy::kRoundRobin;
    Engine engine(options);
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    const std::string url = FirstAddress(engine);

    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back(
          [&, t] { ConnectUntil(url, done, cap, &tallies[static_cast<size_t>(t)]); });
    }
    // Both loops serve connections before the stop: hand-offs are flowing.
    const bool both_loops_busy = WaitFor([&] {
      const std::vector<LoopStats> s = engine.Stats();
      return s[0].connections >= 10 && s[1].connections >= 10;
    });
    engine.Stop();
    const bool stopped = WaitWithin(engine, seconds(10));

    // Nobody listens once Wait has returned.
    std::string error;
    Client late = Client::Connect(url, &error, seconds(10));
    CHECK_FALSE(late.valid());
    CHECK(error.find(std::strerror(ECONNREFUSED)) != std::string::npos);

    // The client threads are refused too, each at least once, before they
    // are told to finish.
    CHECK(WaitFor([&] {
      return std::all_of(tallies.begin(), tallies.end(),
                         [](const Tally& t) { return t.refused.load() > 0; });
    }));
    done.store(true);
    for (std::thread& t : threads) t.join();
    CHECK(both_loops_busy);
    CHECK(stopped);
    CHECK(engine.CountConnections() == 0);
  }

  const Clock::time_point deadline = Clock::now() + seconds(10);
  int ends[4] = {0, 0, 0, 0};
  int refused = 0;
  int dropped = 0;
  for (Tally& t : tallies) {
    for (Client& c : t.open) ++ends[static_cast<int>(WaitForEnd(c, deadline))];
    refused += t.refused.load();
    dropped += t.dropped;
    CHECK_MESSAGE(t.errors.empty(), "connect failed: ",
                  t.errors.empty() ? std::string() : t.errors.front());
  }
  INFO("EOF ", ends[0], ", reset ", ends[1], ", hung ", ends[2], ", other ",
       ends[3], ", refused ", refused, ", closed at once ", dropped);
  CHECK(ends[static_cast<int>(End::kHung)] == 0);
  CHECK(ends[static_cast<int>(End::kOther)] == 0);
  CHECK(ends[static_cast<int>(End::kEof)] > 0);
  tallies.clear();
  CheckNoFdLeak(fds_before);
}

}  // namespace
}  // namespace actnet::integration
