// Co-hosting (EngineOptions::cohost_loops): when there are more loops than
// CPUs they may run on, the loops that would share a CPU run on one thread.
// Each keeps its index, connections and mailbox; messages between them are
// taken without an eventfd wake-up; the engine stops as usual.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

Clock::time_point Soon() { return Clock::now() + seconds(20); }

// Which threads and loops handlers and loop tasks ran on.
class Sightings {
 public:
  void Saw(uint32_t loop) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.insert(std::this_thread::get_id());
    loops_.insert(loop);
  }
  size_t threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_.size();
  }
  std::set<uint32_t> loops() const {
    std::lock_guard<std::mutex> lock(mu_);
    return loops_;
  }

 private:
  mutable std::mutex mu_;
  std::set<std::thread::id> threads_;
  std::set<uint32_t> loops_;
};

// Echoes, but the long way round: the bytes go as a task to the next loop,
// which sends them back as a task to this loop, which writes them. So every
// reply needs two loop-to-loop messages.
class HopEcho : public Handler {
 public:
  explicit HopEcho(Sightings* seen) : seen_(seen) {}

  Action OnData(Conn& conn) override {
    EventLoop& here = conn.loop();
    seen_->Saw(here.index());
    Engine& engine = here.engine();
    const uint32_t home = here.index();
    const uint32_t next = (home + 1) % static_cast<uint32_t>(engine.num_loops());
    const ActorRef ref = conn.ref();
    Sightings* seen = seen_;
    const absl::Status s = engine.Post(
        next, [seen, home, ref, data = std::string(conn.Next())](EventLoop& there) {
          seen->Saw(there.index());
          (void)there.engine().Post(home, [seen, ref, data](EventLoop& back) {
            seen->Saw(back.index());
            if (Conn* c = back.FindConn(ref)) c->Write(data);
          });
        });
    return s.ok() ? Action::kNone : Action::kClose;
  }

 private:
  Sightings* seen_;
};

void StartHopEcho(Engine& engine, Sightings* seen) {
  REQUIRE(engine.Listen("tcp://127.0.0.1:0", [seen] { return std::make_unique<HopEcho>(seen); })
              .ok());
  REQUIRE(engine.Start().ok());
}

// Clients on every loop (round robin), each doing round trips that hop
// loops. Returns the round trips that succeeded.
int HopAround(Engine& engine, int clients, int trips) {
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&engine, &done, t, trips] {
      Client c = Client::Connect(FirstAddress(engine));
      if (!c.valid()) return;
      for (int i = 0; i < trips; ++i) {
        if (!c.RoundTrip("c" + std::to_string(t) + "/" + std::to_string(i), Soon())) return;
        done.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return done.load();
}

TEST_CASE("three loops confined to one CPU share one thread; messages between them need no wake-up") {
  const int fds_before = CountOpenFds();
  {
    OneCpu one_cpu;
    Engine engine(Loops(3));
    Sightings seen;
    StartHopEcho(engine, &seen);
    CHECK(HopAround(engine, 6, 100) == 600);
    CHECK(seen.loops() == std::set<uint32_t>{0, 1, 2});
    CHECK(seen.threads() == 1);
    const std::vector<LoopStats> stats = engine.Stats();
    REQUIRE(stats.size() == 3);
    for (const LoopStats& s : stats) {
      INFO("loop " << s.loop << " messages " << s.messages << " wakeups " << s.wakeups
                   << " polls " << s.polls);
      CHECK(s.messages > 0);
      // A co-hosted loop is never parked while its thread runs, so another
      // loop of the thread never writes its eventfd.
      CHECK(s.wakeups == 0);
    }
    // The thread polls for all of its loops: the host's counters have them.
    CHECK(stats[0].polls > 0);
    CHECK(stats[1].polls == 0);
    CHECK(stats[2].polls == 0);
    engine.Stop();
    engine.Wait();
    CHECK(engine.CountConnections() == 0);
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("with cohost_loops off, three loops on one CPU get a thread each") {
  OneCpu one_cpu;
  EngineOptions options = Loops(3);
  options.cohost_loops = false;
  Engine engine(options);
  Sightings seen;
  StartHopEcho(engine, &seen);
  CHECK(HopAround(engine, 6, 20) == 120);
  CHECK(seen.threads() == 3);
  engine.Stop();
  engine.Wait();
}

TEST_CASE("pin_cpus with twice as many loops as CPUs: one thread per CPU, two loops on each") {
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  REQUIRE(cpus > 0);
  cpu_set_t allowed;
  REQUIRE(sched_getaffinity(0, sizeof(allowed), &allowed) == 0);
  if (CPU_COUNT(&allowed) < cpus || cpus > 64) {
    MESSAGE("skipped: needs every CPU allowed and at most 64 of them");
    return;
  }
  EngineOptions options;
  options.loops = 2 * cpus;
  options.pin_cpus = true;
  Engine engine(options);
  Sightings seen;
  StartHopEcho(engine, &seen);
  CHECK(HopAround(engine, 2 * options.loops, 20) == 40 * options.loops);
  CHECK(seen.loops().size() == static_cast<size_t>(options.loops));
  CHECK(seen.threads() == static_cast<size_t>(cpus));
  engine.Stop();
  engine.Wait();
}

TEST_CASE("a co-hosted engine stops from a task on one of its loops and from a foreign thread") {
  OneCpu one_cpu;
  for (const bool from_loop : {true, false}) {
    CAPTURE(from_loop);
    Engine engine(Loops(4));
    Sightings seen;
    StartHopEcho(engine, &seen);
    CHECK(HopAround(engine, 8, 10) == 80);
    // Open connections on every loop, left open across the stop.
    std::vector<Client> open;
    for (int i = 0; i < 8; ++i) open.push_back(Client::Connect(FirstAddress(engine)));
    for (Client& c : open) REQUIRE(c.RoundTrip("x", Soon()));
    if (from_loop) {
      REQUIRE(engine.Post(3, [](EventLoop& loop) { loop.engine().Stop(); }).ok());
    } else {
      engine.Stop();
    }
    engine.Wait();
    CHECK(engine.CountConnections() == 0);
    for (Client& c : open) {
      std::string rest;
      CHECK(c.RecvUntilEof(&rest, Soon()));
    }
  }
}

}  // namespace
}  // namespace actnet::integration
