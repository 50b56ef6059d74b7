// Timers: the engine-wide tick (SetOnTick) and per-connection ticks
// (Conn::SetTick) fire repeatedly, never more often than their interval,
// stop when told, and stop with the engine or the connection. Nothing here
// depends on how fast the machine is: "repeatedly" is waited for, "never
// more often" is a bound from the library's own timer (a tick is due its
// interval after the loop clock of the previous one), and "then never" is
// watched for a while.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sched.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

Clock::time_point Soon() { return Clock::now() + seconds(20); }

// Watching for ticks that must not come.
void QuietPeriod() { std::this_thread::sleep_for(milliseconds(150)); }

// Waits for `ticks` to reach 5, then checks that they came no more often
// than every 20 ms since `start` (a time before the first could be due).
// The count is read before the clock, so every tick counted ran before
// `now`: tick k is due 20 ms after the loop clock of tick k - 1, so
// k ticks take at least (k - 1) * 20 ms.
void CheckTicksEvery20Ms(const std::atomic<int>& ticks, Clock::time_point start) {
  CHECK(WaitFor([&] { return ticks.load() >= 5; }));
  const int seen = ticks.load();
  const Clock::time_point now = Clock::now();
  const auto elapsed = std::chrono::duration_cast<milliseconds>(now - start);
  INFO(seen, " ticks in ", elapsed.count(), " ms");
  CHECK(seen <= 1 + elapsed / milliseconds(20));
}

TEST_CASE("the engine tick fires repeatedly, at most every 20 ms, and stops with the engine") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(Loops(2));
    std::atomic<int> ticks{0};
    engine.SetOnTick([&ticks](Engine&) {
      ticks.fetch_add(1);
      return absl::Milliseconds(20);
    });
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    const Clock::time_point start = Clock::now();
    REQUIRE(engine.Start().ok());
    CheckTicksEvery20Ms(ticks, start);
    engine.Stop();
    engine.Wait();
    const int at_stop = ticks.load();
    QuietPeriod();
    CHECK(ticks.load() == at_stop);
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("an engine tick that returns zero stops ticking") {
  Engine engine(Loops(1));
  std::atomic<int> ticks{0};
  engine.SetOnTick([&ticks](Engine&) {
    return ticks.fetch_add(1) + 1 < 3 ? absl::Milliseconds(5)
                                      : absl::ZeroDuration();
  });
  REQUIRE(engine.Start().ok());
  CHECK(WaitFor([&] { return ticks.load() >= 3; }));
  QuietPeriod();
  CHECK(ticks.load() == 3);
  engine.Stop();
  engine.Wait();
}

TEST_CASE("the first engine tick waits for its delay") {
  Engine engine(Loops(1));
  std::atomic<int> ticks{0};
  engine.SetOnTick(
      [&ticks](Engine&) {
        ticks.fetch_add(1);
        return absl::ZeroDuration();
      },
      absl::Seconds(30));
  REQUIRE(engine.Start().ok());
  QuietPeriod();
  CHECK(ticks.load() == 0);
  engine.Stop();
  // A far timer must not delay Stop: the bound is well short of 30 s.
  CHECK(WaitWithin(engine, Slack(seconds(5))));
  CHECK(ticks.load() == 0);
}

// Ticks every 20 ms from OnOpen; after `stop_after` ticks sets a zero tick
// (if > 0). Counts ticks in `ticks`.
class Ticker : public LoggedHandler {
 public:
  Ticker(ConnLog* log, std::atomic<int>* ticks, int stop_after, bool close_at)
      : LoggedHandler(log), ticks_(ticks), stop_after_(stop_after), close_at_(close_at) {}
  Action OnOpen(Conn& conn) override {
    LoggedHandler::OnOpen(conn);
    conn.SetTick(absl::Milliseconds(20));
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
  Action OnTick(Conn& conn) override {
    const int n = ticks_->fetch_add(1) + 1;
    if (stop_after_ > 0 && n == stop_after_) {
      if (close_at_) {
        conn.Write("done\n");
        return Action::kClose;
      }
      conn.SetTick(absl::ZeroDuration());
    }
    return Action::kNone;
  }

 private:
  std::atomic<int>* ticks_;
  int stop_after_;
  bool close_at_;
};

struct TickServer {
  TickServer(int stop_after, bool close_at) : engine(Loops(2)) {
    ConnLog* l = &log;
    std::atomic<int>* t = &ticks;
    REQUIRE(engine
                .Listen("tcp://127.0.0.1:0",
                        [l, t, stop_after, close_at] {
                          return std::make_unique<Ticker>(l, t, stop_after,
                                                          close_at);
                        })
                .ok());
    REQUIRE(engine.Start().ok());
    client = Client::Connect(FirstAddress(engine));
    REQUIRE(client.valid());
    REQUIRE(log.WaitOpens(1));
  }
  ~TickServer() {
    engine.Stop();
    engine.Wait();
  }
  ConnLog log;
  std::atomic<int> ticks{0};
  Engine engine;
  Client client;
};

TEST_CASE("a connection tick fires repeatedly, at most every 20 ms") {
  const int fds_before = CountOpenFds();
  {
    const Clock::time_point start = Clock::now();
    TickServer s(0, false);
    CheckTicksEvery20Ms(s.ticks, start);
    // Ticking does not disturb the connection.
    CHECK(s.client.RoundTrip("tick tock", Soon()));
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("SetTick(ZeroDuration()) stops a connection's ticks") {
  TickServer s(5, false);
  CHECK(WaitFor([&] { return s.ticks.load() >= 5; }));
  QuietPeriod();
  CHECK(s.ticks.load() == 5);
  CHECK(s.client.RoundTrip("still open", Soon()));
}

TEST_CASE("a connection's ticks stop when it closes") {
  const int fds_before = CountOpenFds();
  {
    TickServer s(0, false);
    CHECK(WaitFor([&] { return s.ticks.load() >= 2; }));
    s.client.Close();
    REQUIRE(s.log.WaitCloses(1));
    const int at_close = s.ticks.load();
    QuietPeriod();
    CHECK(s.ticks.load() == at_close);
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("OnTick returning kClose closes the connection after flushing") {
  TickServer s(3, true);
  std::string got;
  CHECK(s.client.RecvUntilEof(&got, Soon()));
  CHECK(got == "done\n");
  REQUIRE(s.log.WaitCloses(1));
  CHECK(s.log.reasons()[0].kind == CloseReason::Kind::kLocal);
  QuietPeriod();
  CHECK(s.ticks.load() == 3);
}

// EngineOptions::busy_poll and EngineOptions::coalesce: a loop that polls,
// or sleeps a coalescing window, before blocking must still see everything
// a blocking loop sees: socket readiness from many clients at once, timers,
// and messages from other threads (parked, the mailbox wakes it by eventfd).
struct MessageCounter : public LoggedHandler {
  MessageCounter(ConnLog* log, std::atomic<int>* messages)
      : LoggedHandler(log), messages_(messages) {}
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
  Action OnMessage(Conn& conn, Envelope& message) override {
    if (const int* n = message.As<int>()) {
      messages_->fetch_add(*n);
      conn.Write("m");
    }
    return Action::kNone;
  }
  std::atomic<int>* messages_;
};

LoopStats Sum(const std::vector<LoopStats>& all) {
  LoopStats t;
  for (const LoopStats& s : all) t += s;
  return t;
}

// Runs the workload below on two loops, then hands Engine::Stats() (taken
// before Stop) to `check` for what the options at hand must show.
void ServeEverything(EngineOptions options,
                     const std::function<void(const LoopStats&)>& check) {
  const int fds_before = CountOpenFds();
  {
    options.loops = 2;
    Engine engine(options);
    std::atomic<int> ticks{0};
    std::atomic<int> messages{0};
    ConnLog log;
    engine.SetOnTick([&ticks](Engine&) {
      ticks.fetch_add(1);
      return absl::Milliseconds(20);
    });
    REQUIRE(engine
                .Listen("tcp://127.0.0.1:0",
                        [&log, &messages] {
                          return std::make_unique<MessageCounter>(&log, &messages);
                        })
                .ok());
    REQUIRE(engine.Start().ok());
    Client client = Client::Connect(FirstAddress(engine));
    REQUIRE(client.valid());
    for (int i = 0; i < 50; ++i) REQUIRE(client.RoundTrip("poll " + std::to_string(i), Soon()));
    // Many clients at once, so events arrive while a loop polls or sleeps
    // a window (a coalescing window then gathers several).
    constexpr int kClients = 16;
    std::atomic<int> round_trips{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&engine, &round_trips, t] {
        Client c = Client::Connect(FirstAddress(engine));
        if (!c.valid()) return;
        for (int i = 0; i < 200; ++i) {
          if (!c.RoundTrip("c" + std::to_string(t) + "/" + std::to_string(i), Soon())) return;
          round_trips.fetch_add(1);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    CHECK(round_trips.load() == kClients * 200);
    REQUIRE(log.WaitCloses(kClients));
    // Idle now: whatever the poll or coalescing window, the loops block and
    // wake again (for the ticks at least).
    const uint64_t blocked = Sum(engine.Stats()).blocks;
    CHECK(WaitFor([&] { return Sum(engine.Stats()).blocks >= blocked + 2; }));
    CHECK(WaitFor([&] { return ticks.load() >= 5; }));
    const std::vector<ActorRef> refs = log.opened_refs();
    REQUIRE(refs.size() == 1 + kClients);
    // Foreign Tells, each once some loop has blocked again since the last,
    // at least 20 of them and until one has reached its loop parked, through
    // the mailbox's eventfd (a Tell that finds the loop awake wakes nobody).
    auto wakeups = [&] { return engine.Stats().at(refs[0].loop).wakeups; };
    int told = 0;
    const Clock::time_point until = Clock::now() + Slack(seconds(10));
    while (told < 20 || (wakeups() == 0 && Clock::now() < until)) {
      const uint64_t blocks = Sum(engine.Stats()).blocks;
      CHECK(WaitFor([&] { return Sum(engine.Stats()).blocks > blocks; }));
      REQUIRE(engine.Tell<int>(refs[0], 1).ok());
      ++told;
      std::string m;
      CHECK(client.RecvExactly(1, &m, Soon()));
    }
    CHECK(messages.load() == told);
    CHECK(wakeups() >= 1);
    CHECK(client.RoundTrip("after", Soon()));
    // `client` is open; the others have closed (the count drops just after
    // their OnClose).
    CHECK(WaitFor([&] { return Sum(engine.Stats()).connections == 1; }));
    engine.Stop();
    CHECK(WaitWithin(engine, Slack(seconds(10))));
    // The loops have stopped: the counters are final, and read together.
    const std::vector<LoopStats> stats = engine.Stats();
    REQUIRE(stats.size() == 2);
    CHECK(stats[0].loop == 0);
    CHECK(stats[1].loop == 1);
    const LoopStats total = Sum(stats);
    INFO("iterations " << total.iterations << " polls " << total.polls
         << " blocks " << total.blocks << " windows " << total.windows
         << " yields " << total.yields << " messages " << total.messages
         << " wakeups " << total.wakeups);
    CHECK(total.iterations > 0);
    CHECK(total.polls >= total.blocks);
    CHECK(total.messages >= static_cast<uint64_t>(told));
    check(total);
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("with busy_poll, sockets, ticks and foreign messages are all served") {
  EngineOptions options;
  options.busy_poll = absl::Microseconds(200);
  ServeEverything(options, [](const LoopStats& total) {
    // Each would-be block first polls without blocking (for up to 200 us;
    // how many polls fit in that depends on the schedule).
    CHECK(total.polls >= 2 * total.blocks);
    CHECK(total.windows == 0);
    CHECK(total.yields == 0);
  });
}

TEST_CASE("with coalescing windows, sockets, ticks and foreign messages are all served") {
  EngineOptions options;
  options.coalesce = absl::Microseconds(100);
  options.coalesce_min_busy_percent = 0;  // windows whatever the load
  ServeEverything(options, [](const LoopStats& total) {
    CHECK(total.windows > 0);
    // Only loops that share a CPU yield (here: two loops, two CPUs or more).
    cpu_set_t allowed;
    REQUIRE(sched_getaffinity(0, sizeof(allowed), &allowed) == 0);
    if (CPU_COUNT(&allowed) >= 2) CHECK(total.yields == 0);
  });
}

TEST_CASE("two loop threads confined to one CPU: coalescing windows yield, and everything is served") {
  // The engine sees one allowed CPU for two loops (as under `taskset -c 0`)
  // and co-hosting is off, so each loop has a thread and a window first
  // yields to the other loop, then sleeps if that leaves a trickle.
  OneCpu one_cpu;
  EngineOptions options;
  options.cohost_loops = false;
  options.coalesce = absl::Microseconds(100);
  options.coalesce_min_busy_percent = 0;
  ServeEverything(options, [](const LoopStats& total) {
    // Loops sharing a CPU yield before any window.
    CHECK(total.yields > 0);
  });
}

TEST_CASE("two loops co-hosted on one CPU's thread: one window for both, no yields, everything served") {
  OneCpu one_cpu;
  EngineOptions options;
  options.coalesce = absl::Microseconds(100);
  options.coalesce_min_busy_percent = 0;
  ServeEverything(options, [](const LoopStats& total) {
    CHECK(total.windows > 0);
    // One thread: nobody to yield to.
    CHECK(total.yields == 0);
  });
}

}  // namespace
}  // namespace actnet::integration
