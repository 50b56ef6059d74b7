// Stopping: under load, from another thread, by the destructor, and the echo
// example on SIGINT/SIGTERM. Each must finish within a generous bound (a
// hang check, not a performance assertion: stop_timeout is 1 s) and leave
// no fd behind.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <signal.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

Clock::time_point Soon() { return Clock::now() + seconds(20); }

// The bound on a stop: stop_timeout (1 s) forces what is still open.
Clock::duration StopBound() { return Slack(seconds(10)); }

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST_CASE("Stop and Wait end an engine while 100 clients are mid-transfer") {
  const int fds_before = CountOpenFds();
  {
    const int kClients = static_cast<int>(Scaled(100, 20));
    Engine engine(Loops(4));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    const std::string url = FirstAddress(engine);

    std::atomic<int> connected{0};
    std::atomic<int> busy{0};  // clients that completed a round trip
    std::atomic<int> connect_failures{0};
    std::atomic<int> ended{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        Client client = Client::Connect(url);
        if (!client.valid()) {
          connect_failures.fetch_add(1);
          ended.fetch_add(1);
          return;
        }
        connected.fetch_add(1);
        std::mt19937_64 rng(static_cast<uint64_t>(c));
        bool counted = false;
        // Until the server goes away: EOF, a reset, or (only if the server
        // hangs) the deadline.
        const Clock::time_point deadline = Soon();
        for (;;) {
          const std::string chunk = RandomBytes(rng, 1 + rng() % 16384);
          if (!client.RoundTrip(chunk, deadline)) break;
          if (!counted) {
            counted = true;
            busy.fetch_add(1);
          }
        }
        ended.fetch_add(1);
      });
    }
    REQUIRE(WaitFor([&] { return busy.load() + connect_failures.load() == kClients; },
                    seconds(30)));
    CHECK(connect_failures.load() == 0);
    const Clock::time_point t0 = Clock::now();
    engine.Stop();
    const bool stopped = WaitWithin(engine, StopBound());
    INFO("Stop + Wait took ", SecondsSince(t0), " s");
    CHECK(stopped);
    CHECK(engine.CountConnections() == 0);
    // Every client notices the server went away well before its deadline.
    CHECK(WaitFor([&] { return ended.load() == kClients; }, seconds(10)));
    for (std::thread& t : clients) t.join();
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("Stop from another thread stops an idle engine") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(Loops(2));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    Client idle = Client::Connect(FirstAddress(engine));
    REQUIRE(idle.valid());
    REQUIRE(idle.RoundTrip("hi", Soon()));
    std::thread stopper([&] { engine.Stop(); });
    stopper.join();
    CHECK(WaitWithin(engine, StopBound()));
    std::string rest;
    CHECK(idle.RecvUntilEof(&rest, Soon()));
    CHECK(rest.empty());
  }
  CheckNoFdLeak(fds_before);
}

// Counts what it receives; its destruction is recorded too.
class Recorder : public Actor {
 public:
  Recorder(std::atomic<int>* received, std::atomic<bool>* destroyed)
      : received_(received), destroyed_(destroyed) {}
  ~Recorder() override { *destroyed_ = true; }
  void Receive(Envelope&) override { received_->fetch_add(1); }

 private:
  std::atomic<int>* received_;
  std::atomic<bool>* destroyed_;
};

TEST_CASE("what one loop sends a loop that has already stopped is handled by the time Wait returns") {
  EngineOptions options = Loops(2);
  options.cohost_loops = false;  // a thread each, so loop 1 can finish first
  Engine engine(options);
  std::atomic<int> received{0};
  std::atomic<bool> destroyed{false};
  const ActorRef actor = engine.Spawn(1, std::make_unique<Recorder>(&received, &destroyed));
  REQUIRE(engine.Start().ok());
  std::atomic<bool> loop1_stopped{false};
  std::atomic<bool> posted{false};
  std::atomic<int> ran_on{-1};
  REQUIRE(engine.Post(0, [&](EventLoop& loop) {
    loop.engine().Stop();
    // Held here until loop 1 (nothing open) has stopped.
    const Clock::time_point until = Clock::now() + seconds(10);
    while (!loop1_stopped && Clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
    posted = loop.engine()
                 .Post(1,
                       [&ran_on](EventLoop& there) {
                         ran_on = EventLoop::Current() == &there ? static_cast<int>(there.index())
                                                                 : -2;
                       })
                 .ok() &&
             loop.engine().Tell<int>(actor, 7).ok();
  }).ok());
  // A stopped loop refuses posts from other threads.
  const Clock::time_point until = Clock::now() + seconds(10);
  while (Clock::now() < until && engine.Post(1, [](EventLoop&) {}).ok()) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  loop1_stopped = true;
  engine.Wait();
  CHECK(posted.load());
  // The task runs on the stopped loop...
  CHECK(ran_on.load() == 1);
  // ...but the actor died with its loop: the message is a dead letter.
  CHECK(destroyed.load());
  CHECK(received.load() == 0);
  CHECK(engine.DeadLetters() == 1);
}

TEST_CASE("an engine destroyed without Stop stops and closes its connections") {
  const int fds_before = CountOpenFds();
  Client client;
  Clock::duration took{};
  {
    auto engine = std::make_unique<Engine>(Loops(2));
    REQUIRE(engine->Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine->Start().ok());
    client = Client::Connect(FirstAddress(*engine));
    REQUIRE(client.valid());
    REQUIRE(client.RoundTrip("before", Soon()));
    const Clock::time_point t0 = Clock::now();
    engine.reset();
    took = Clock::now() - t0;
  }
  CHECK(took < StopBound());
  std::string rest;
  CHECK(client.RecvUntilEof(&rest, Soon()));
  client.Close();
  CheckNoFdLeak(fds_before);
}

TEST_CASE("an engine that never started holds no fds") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(Loops(2));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    engine.Stop();  // harmless before Start
    engine.Wait();  // returns at once
  }
  CheckNoFdLeak(fds_before);
}

void CheckEchoExampleExitsOn(int sig) {
  const int fds_before = CountOpenFds();
  {
    auto echo = testutil::ChildProcess::Start(testutil::Runfile("examples/echo/echo"),
                                              {"--addr=tcp://127.0.0.1:0", "--loops=2"});
    REQUIRE(echo != nullptr);
    INFO("listening line: ", echo->listening_line());
    {
      Client client = Client::Connect("tcp://127.0.0.1:" + std::to_string(echo->port()));
      REQUIRE(client.valid());
      CHECK(client.RoundTrip("hello, echo", Soon()));
    }
    // Exits 0 within the bound (sanitized binaries also check for leaks at
    // exit); -1 would mean it had to be killed.
    CHECK(echo->Terminate(StopBound(), sig) == 0);
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("the echo example exits 0 after SIGINT") {
  CheckEchoExampleExitsOn(SIGINT);
}

TEST_CASE("the echo example exits 0 after SIGTERM") {
  CheckEchoExampleExitsOn(SIGTERM);
}

}  // namespace
}  // namespace actnet::integration
