// 10,000 connections opened and closed in a burst from several client
// threads: each is served byte-exact or cleanly refused (never a wrong or
// hung reply; every call has a deadline), every OnOpen pairs with an
// OnClose, CountConnections returns to 0 and the server keeps serving.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/fault/fault_testing.h"

namespace actnet::fault {
namespace {

struct Tally {
  std::atomic<int> served{0};      // echo correct
  std::atomic<int> silent{0};      // opened and closed without a request
  std::atomic<int> refused{0};     // connect refused, or EOF/RST before any reply
  std::atomic<int> wrong{0};       // a wrong reply, or a deadline passed
};

// Opens `total` connections in waves of `wave` at once; each connection
// either echoes a 16-byte request (closing with FIN or RST afterwards) or
// closes at once (FIN or RST) without a request.
void Burst(int port, int id, int total, int wave, Tally* tally) {
  std::vector<Sock> socks;
  for (int done = 0; done < total; done += wave) {
    const int n = std::min(wave, total - done);
    socks.clear();
    for (int i = 0; i < n; ++i) {
      int err = 0;
      Sock s = Sock::Connect(port, After(seconds(10)), &err);
      if (!s.valid()) {
        (err == ECONNREFUSED ? tally->refused : tally->wrong).fetch_add(1);
        continue;
      }
      socks.push_back(std::move(s));
    }
    for (size_t i = 0; i < socks.size(); ++i) {
      Sock& s = socks[i];
      const int mode = static_cast<int>((done + static_cast<int>(i)) % 4);
      if (mode >= 2) {
        mode == 2 ? s.Close() : s.ResetClose();
        tally->silent.fetch_add(1);
        continue;
      }
      char req[17];
      std::snprintf(req, sizeof(req), "%04d:%010d", id % 10000, done + static_cast<int>(i));
      if (!s.SendAll(std::string_view(req, 16), After(seconds(10)))) {
        (s.last_error() == ECONNRESET || s.last_error() == EPIPE ? tally->refused
                                                                 : tally->wrong)
            .fetch_add(1);
        continue;
      }
      std::string back;
      if (s.RecvExactly(16, &back, After(seconds(10)))) {
        (back == std::string_view(req, 16) ? tally->served : tally->wrong).fetch_add(1);
      } else if (back.empty() && s.last_error() != ETIMEDOUT) {
        tally->refused.fetch_add(1);
      } else {
        tally->wrong.fetch_add(1);
      }
      mode == 0 ? s.Close() : s.ResetClose();
    }
  }
}

TEST_SUITE("connection burst") {
  TEST_CASE("10,000 connections opened and closed in a burst") {
    const int fds_before = CountOpenFds();
    Lifecycle log;
    {
      EngineOptions options;
      options.loops = 2;
      Server server = StartServer(options, [&log] {
        return std::make_unique<EchoHandler>(&log);
      });
      // Memory is measured after a first, smaller burst has grown what is
      // grown once (loop tables, allocator arenas, the backend's entries).
      {
        Tally warm;
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
          threads.emplace_back(Burst, server.port, t, 250, 50, &warm);
        }
        for (auto& th : threads) th.join();
        REQUIRE(WaitFor([&] { return server.engine->CountConnections() == 0; },
                        Slack(seconds(10))));
      }
      const int64_t rss_before = RssKib();
      constexpr int kThreads = 4;
      const int kTotal = 10000;
      Tally tally;
      const Clock::time_point start = Clock::now();
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back(Burst, server.port, t, kTotal / kThreads, 50, &tally);
      }
      for (auto& th : threads) th.join();
      const auto elapsed = Clock::now() - start;
      INFO("served " << tally.served << " silent " << tally.silent << " refused "
                     << tally.refused << " wrong " << tally.wrong << " in "
                     << std::chrono::duration_cast<milliseconds>(elapsed).count() << " ms");
      CHECK(tally.wrong.load() == 0);
      CHECK(tally.served + tally.silent + tally.refused == kTotal);
      // Nothing on loopback should refuse a connection the listener has
      // room for; allow a few in case the machine is thrashing.
      CHECK(tally.served.load() >= kTotal / 2 - kTotal / 100);

      // Every accepted connection is eventually closed and counted down.
      CHECK(WaitFor([&] { return server.engine->CountConnections() == 0; }, Slack(seconds(10))));
      // ...and leaves nothing behind: memory stays flat over the burst.
      const int64_t rss_growth = RssKib() - rss_before;
      MESSAGE("RSS growth over 10,000 connections: ", rss_growth, " KiB");
      if (!kSanitized) CHECK(rss_growth < 8 * 1024);
      CHECK_MESSAGE(log.opens() == log.closes(), log.Summary());
      CHECK(log.opens() >= tally.served.load());

      Sock after = Sock::Connect(server.port, After(seconds(10)));
      CHECK(after.RoundTrip("still serving", After(seconds(10))));
      after.Close();
      server.engine->Stop();
      CHECK(WaitStopped(*server.engine, Slack(seconds(10))));
    }
    CheckNoFdLeak(fds_before);
  }
}

}  // namespace
}  // namespace actnet::fault
