// 2,000 connections held open at once: each gets its echo, the engine
// counts them all, and the count returns to zero once they close.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

TEST_CASE("2,000 concurrent connections each echo, are counted, and all close") {
  // Each connection costs two fds here (client and server side).
  const int64_t limit = RaiseFdLimit();
  int target = static_cast<int>(Scaled(2000, 200));
  const int64_t affordable = (limit - 200) / 2;
  if (affordable < target) {
    MESSAGE("RLIMIT_NOFILE allows ", limit, " fds: scaling down from ",
            target, " to ", affordable, " connections");
    target = static_cast<int>(affordable);
  }
  REQUIRE(target > 0);

  const int fds_before = CountOpenFds();
  {
    EngineOptions options;
    options.loops = 4;
    options.balancer = balance::Strategy::kLeastConnections;
    Engine engine(options);
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    const std::string url = FirstAddress(engine);

    constexpr int kThreads = 8;
    std::vector<std::vector<Client>> held(kThreads);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const Clock::time_point deadline = Clock::now() + seconds(60);
        for (int i = t; i < target; i += kThreads) {
          Client c = Client::Connect(url);
          const std::string hello = "hello " + std::to_string(i) + "\n";
          if (!c.valid() || !c.RoundTrip(hello, deadline)) {
            failures.fetch_add(1);
            continue;
          }
          held[static_cast<size_t>(t)].push_back(std::move(c));
        }
      });
    }
    for (std::thread& t : threads) t.join();
    CHECK(failures.load() == 0);
    INFO("connections counted: ", engine.CountConnections());
    CHECK(WaitFor([&] { return engine.CountConnections() == target; }));
    CHECK(engine.CountConnections() == target);

    // Everybody is still connected and served.
    CHECK(held[0].front().RoundTrip("again", Clock::now() + seconds(10)));
    CHECK(held[kThreads - 1].back().RoundTrip("again", Clock::now() + seconds(10)));

    held.clear();  // closes every client
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }, seconds(20)));
    CHECK(engine.CountConnections() == 0);
    engine.Stop();
    engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

}  // namespace
}  // namespace actnet::integration
