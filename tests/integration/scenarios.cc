#include "tests/integration/scenarios.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

// Records the first failure message of many threads.
class Failures {
 public:
  void Add(std::string what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_++ == 0) first_ = std::move(what);
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string first() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  int count_ = 0;
  std::string first_;
};

// Echo that also counts, per loop, the connections it opened.
class CountingEcho : public EchoHandler {
 public:
  explicit CountingEcho(std::atomic<int>* per_loop) : per_loop_(per_loop) {}
  Action OnOpen(Conn& conn) override {
    per_loop_[conn.loop().index()].fetch_add(1, std::memory_order_relaxed);
    return Action::kNone;
  }

 private:
  std::atomic<int>* per_loop_;
};

// Echo that samples its queued output around every write and on drain.
class SamplingEcho : public Handler {
 public:
  SamplingEcho(std::atomic<size_t>* max_out, int sndbuf)
      : max_out_(max_out), sndbuf_(sndbuf) {}
  Action OnOpen(Conn& conn) override {
    if (sndbuf_ > 0) (void)conn.SetSendBufferSize(sndbuf_);
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    Sample(conn);
    conn.Write(conn.Next());
    Sample(conn);
    return Action::kNone;
  }
  Action OnDrain(Conn& conn) override {
    Sample(conn);
    return Action::kNone;
  }

 private:
  void Sample(const Conn& conn) {
    const size_t now = conn.OutboundBytes();
    size_t seen = max_out_->load(std::memory_order_relaxed);
    while (now > seen &&
           !max_out_->compare_exchange_weak(seen, now,
                                            std::memory_order_relaxed)) {
    }
  }
  std::atomic<size_t>* max_out_;
  int sndbuf_;
};

}  // namespace

void RunEchoScenario(const EchoScenario& sc) {
  const int fds_before = CountOpenFds();
  {
    Engine engine(sc.options);
    // num_loops() is 0 until Start() creates the loops; options() already
    // holds the resolved count.
    const int loops = engine.options().loops;
    std::unique_ptr<std::atomic<int>[]> per_loop(new std::atomic<int>[loops]);
    for (int i = 0; i < loops; ++i) per_loop[i].store(0);
    std::atomic<int>* counts = per_loop.get();
    for (const std::string& url : sc.urls) {
      REQUIRE(engine
                  .Listen(url, [counts] {
                    return std::make_unique<CountingEcho>(counts);
                  })
                  .ok());
    }
    REQUIRE(engine.Start().ok());
    const std::vector<std::string> addresses = engine.ListenAddresses();
    REQUIRE(addresses.size() == sc.urls.size());

    Failures failures;
    std::atomic<int64_t> echoed{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < sc.clients; ++c) {
      threads.emplace_back([&, c] {
        const std::string& url = addresses[static_cast<size_t>(c) % addresses.size()];
        std::string error;
        Client client = Client::Connect(url, &error);
        if (!client.valid()) {
          failures.Add(error);
          return;
        }
        std::mt19937_64 rng(sc.seed * 1000003 + static_cast<uint64_t>(c));
        std::uniform_int_distribution<size_t> size(1, sc.max_payload);
        const Clock::time_point deadline = Clock::now() + seconds(60);
        for (int i = 0; i < sc.round_trips; ++i) {
          const std::string payload = RandomBytes(rng, size(rng));
          if (!client.RoundTrip(payload, deadline)) {
            failures.Add("client " + std::to_string(c) + " (" + url +
                         ") round trip " + std::to_string(i) + ": errno " +
                         std::to_string(client.last_error()));
            return;
          }
          echoed.fetch_add(static_cast<int64_t>(payload.size()),
                           std::memory_order_relaxed);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    INFO("first failure: ", failures.first());
    CHECK(failures.count() == 0);
    CHECK(echoed.load() > 0);

    int opened = 0;
    for (int i = 0; i < loops; ++i) opened += per_loop[i].load();
    CHECK(opened == sc.clients);
    if (sc.options.balancer == balance::Strategy::kRoundRobin &&
        sc.clients >= loops * static_cast<int>(sc.urls.size())) {
      for (int i = 0; i < loops; ++i) {
        INFO("loop ", i);
        CHECK(per_loop[i].load() > 0);
      }
    }
    // The clients have closed: every connection actor must go.
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }));
    engine.Stop();
    engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

void RunBackpressureScenario(const BackpressureScenario& sc) {
  const int fds_before = CountOpenFds();
  {
    Engine engine(sc.options);
    std::atomic<size_t> max_out{0};
    REQUIRE(engine
                .Listen(sc.url,
                        [&max_out, sndbuf = sc.server_sndbuf] {
                          return std::make_unique<SamplingEcho>(&max_out,
                                                                sndbuf);
                        })
                .ok());
    REQUIRE(engine.Start().ok());
    std::string error;
    Client client = Client::Connect(FirstAddress(engine), &error, seconds(10),
                                    sc.client_rcvbuf);
    REQUIRE_MESSAGE(client.valid(), error);

    std::mt19937_64 rng(42);
    const std::string payload = RandomBytes(rng, sc.payload);
    const Clock::time_point deadline = Clock::now() + seconds(40);
    std::atomic<bool> sent_ok{false};
    std::thread writer([&] { sent_ok = client.SendAll(payload, deadline); });
    // The reader starts once the server has queued more than the low-water
    // mark (it must, with nobody reading), so the case below is tested
    // however fast the server and the reader happen to run.
    CHECK(WaitFor([&] { return max_out.load() > sc.options.write_low_water; }));

    std::string back;
    back.reserve(payload.size());
    bool read_ok = true;
    int reads = 0;
    while (back.size() < payload.size()) {
      const ssize_t n = client.RecvSome(
          std::min(sc.read_chunk, payload.size() - back.size()), &back,
          deadline);
      if (n <= 0) {
        read_ok = false;
        break;
      }
      // The slowness under test, not synchronisation: a reader that falls
      // behind makes the server queue output and pause reading.
      if (++reads % 4 == 0) std::this_thread::sleep_for(milliseconds(1));
    }
    writer.join();
    CHECK(sent_ok.load());
    INFO("received ", back.size(), " of ", payload.size(), " bytes, errno ",
         client.last_error());
    CHECK(read_ok);
    CHECK(back.size() == payload.size());
    CHECK((back == payload));

    const size_t bound = sc.options.write_high_water +
                         sc.options.read_buffer_size + 64 * 1024;
    const size_t seen = max_out.load();
    MESSAGE("max OutboundBytes ", seen, ", bound ", bound);
    CHECK(seen < bound);
    client.Close();
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }));
    engine.Stop();
    engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

}  // namespace actnet::integration
