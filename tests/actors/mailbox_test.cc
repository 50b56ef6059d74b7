// Mailbox and Outbox: outbox batching and back-pressure into a sender's
// lane (a full lane takes what fits, the rest waits in order), the outbox
// and foreign-queue limits, the fair drain across lanes, per-thread FIFO
// from foreign threads, and the park / wake-up handshake under stress with
// several sending loops (a consumer that blocks in epoll_wait with no
// timeout, so a lost wake-up is a hang that Bazel's timeout turns into a
// failure). Lanes at volume and two loops flooding each other:
// lane_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "actors/envelope.h"
#include "actors/mailbox.h"
#include "doctest/doctest.h"
#include "tests/actors/mailbox_testing.h"
#include "tests/testing/test_scale.h"

namespace actnet::testing {
namespace {

// Blocks until the mailbox's eventfd signals, with no timeout. The eventfd
// is registered edge-triggered, as the mailbox expects, so it is never
// drained: every eventfd write is one new edge.
class Parker {
 public:
  explicit Parker(int wake_fd) : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    REQUIRE(epoll_fd_ >= 0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    REQUIRE(::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd, &ev) == 0);
  }
  ~Parker() { ::close(epoll_fd_); }
  Parker(const Parker&) = delete;
  Parker& operator=(const Parker&) = delete;

  void Wait() {
    epoll_event ev;
    while (::epoll_wait(epoll_fd_, &ev, 1, -1) < 0 && errno == EINTR) {
    }
  }

 private:
  int epoll_fd_;
};

TEST_SUITE("Outbox") {
  TEST_CASE("Flush publishes a large backlog in order at once") {
    auto mailbox = MakeMailbox(1024);
    Outbox outbox(mailbox.get(), 0, 1000);
    for (uint64_t i = 0; i < 100; ++i) {
      REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    }
    CHECK(outbox.size() == 100);
    CHECK_FALSE(mailbox->HasPending());  // nothing is visible before Flush
    CHECK(outbox.Flush());
    CHECK(outbox.empty());
    CHECK(mailbox->HasPending());
    OrderChecker check(1);
    CHECK(mailbox->Drain(check) == 100);
    CHECK(check.errors == 0);
    CHECK_FALSE(mailbox->HasPending());
  }

  TEST_CASE("a lane with 12 free slots takes 12 of a 20-message batch; the "
            "other 8 wait in the outbox, in order") {
    auto mailbox = MakeMailbox(32);
    Outbox outbox(mailbox.get(), 0, 1000);
    for (uint64_t i = 0; i < 20; ++i) REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    CHECK(outbox.Flush());
    for (uint64_t i = 20; i < 40; ++i) REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    CHECK_FALSE(outbox.Flush());
    CHECK(outbox.size() == 8);  // a partial publish: 12 went in
    OrderChecker check(1);
    CHECK(mailbox->Drain(check) == 32);
    CHECK(outbox.Flush());  // the 8 fit now
    CHECK(mailbox->Drain(check) == 8);
    CHECK(check.received == 40);
    CHECK(check.errors == 0);
  }

  TEST_CASE("when the lane is full the backlog stays in the outbox in order "
            "and later sends queue behind it") {
    // A batch of 7 per Drain, so the consumer never catches up until the
    // sender stops.
    auto mailbox = MakeMailbox(32, 1 << 16, 1, /*batch=*/7);
    Outbox outbox(mailbox.get(), 0, 10000);
    OrderChecker check(1);
    uint64_t sent = 0;
    for (int round = 0; round < 50; ++round) {
      // Send more than fits, flush, take a little, repeat: the outbox is
      // never empty and the lane is full after every flush.
      for (int i = 0; i < 45; ++i) REQUIRE(outbox.Push(MakeMsg(0, sent++)).ok());
      CHECK_FALSE(outbox.Flush());
      // At most a batch; fewer when the consumer reaches the end of what it
      // saw at its last read of the lane's cursor.
      const size_t n = mailbox->Drain(check);
      CHECK(n >= 1);
      CHECK(n <= 7);
    }
    CHECK(outbox.size() > 1000);
    while (check.received < sent) {
      outbox.Flush();
      mailbox->Drain(check);
    }
    CHECK(outbox.empty());
    CHECK(check.errors == 0);
  }

  TEST_CASE("an outbox at its limit refuses with ResourceExhausted and the "
            "refused message stays with the caller") {
    // Sends fill the lane (32 slots, unpublished), then the outbox's own
    // queue up to its limit (40): 72 in all.
    auto mailbox = MakeMailbox(32);
    Outbox outbox(mailbox.get(), 0, 40);
    for (uint64_t i = 0; i < 72; ++i) REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    Envelope refused = MakeMsg(0, 72);
    const absl::Status status = outbox.Push(std::move(refused));
    CHECK(status.code() == absl::StatusCode::kResourceExhausted);
    REQUIRE(refused.As<Msg>() != nullptr);
    CHECK(refused.As<Msg>()->seq == 72);
    CHECK(outbox.size() == 72);
    // Flush publishes the lane's 32; nothing drains, so the queue stays.
    CHECK_FALSE(outbox.Flush());
    CHECK(outbox.size() == 40);
    CHECK(outbox.Push(std::move(refused)).code() == absl::StatusCode::kResourceExhausted);
    // Room again once the consumer frees the lane and the backlog moves in.
    OrderChecker check(1);
    CHECK(mailbox->Drain(check) == 32);
    CHECK_FALSE(outbox.Flush());  // 32 of the 40 move into the lane
    CHECK(outbox.size() == 8);
    CHECK(outbox.Push(std::move(refused)).ok());
    CHECK(check.errors == 0);
  }

  TEST_CASE("an empty flush makes no lane and wakes no one") {
    auto mailbox = MakeMailbox(32, 1 << 16, /*senders=*/2);
    Outbox outbox(mailbox.get(), 1, 40);
    REQUIRE(mailbox->TryPark());
    CHECK(outbox.Flush());
    CHECK(mailbox->wakeups() == 0);
    mailbox->Unpark();
    CHECK(mailbox->Drain([](Envelope&) {}) == 0);
  }
}

TEST_SUITE("Mailbox") {
  TEST_CASE("Create rejects a bad configuration") {
    MailboxOptions options;
    for (size_t bad : {size_t{0}, size_t{1}, size_t{3}, size_t{100}}) {
      CAPTURE(bad);
      options.lane_capacity = bad;
      CHECK(Mailbox::Create(options).status().code() ==
            absl::StatusCode::kInvalidArgument);
    }
    options.lane_capacity = 2;
    CHECK(Mailbox::Create(options).ok());
    options.senders = 0;
    CHECK(Mailbox::Create(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
    options.senders = 1;
    options.batch = 0;
    CHECK(Mailbox::Create(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }

  TEST_CASE("a sender's lane is made on its first use and then reused") {
    auto mailbox = MakeMailbox(64, 1 << 16, /*senders=*/3);
    Lane* lane = mailbox->LaneFor(2);
    REQUIRE(lane != nullptr);
    CHECK(lane->capacity() == 64);
    CHECK(mailbox->LaneFor(2) == lane);
    CHECK(mailbox->LaneFor(0) != lane);
    CHECK_FALSE(mailbox->HasPending());  // an empty lane is nothing pending
  }

  TEST_CASE("the drain is fair: a batch from each lane per call, starting "
            "one lane further each time, then the foreign queue") {
    constexpr size_t kSenders = 3;
    auto mailbox = MakeMailbox(64, 1 << 16, kSenders, /*batch=*/8);
    std::vector<std::unique_ptr<Outbox>> outboxes;
    for (size_t s = 0; s < kSenders; ++s) {
      outboxes.push_back(std::make_unique<Outbox>(mailbox.get(), s, 1000));
      for (uint64_t i = 0; i < 40; ++i) {
        REQUIRE(outboxes[s]->Push(MakeMsg(s, i)).ok());
      }
      REQUIRE(outboxes[s]->Flush());
    }
    for (uint64_t i = 0; i < 40; ++i) {
      REQUIRE(mailbox->PushForeign(MakeMsg(kSenders, i)).ok());
    }
    OrderChecker check(kSenders + 1);
    for (size_t call = 0; call < 5; ++call) {
      CAPTURE(call);
      std::vector<uint64_t> order;
      CHECK(mailbox->Drain([&](Envelope& e) {
        check(e);
        const uint64_t from = e.As<Msg>()->sender;
        if (order.empty() || order.back() != from) order.push_back(from);
      }) == 4 * 8);
      // Each source once, the lanes rotating, the foreign queue last.
      const std::vector<uint64_t> expected = {call % 3, (call + 1) % 3,
                                              (call + 2) % 3, kSenders};
      CHECK(order == expected);
    }
    CHECK(check.received == 160);
    CHECK(check.errors == 0);
    CHECK_FALSE(mailbox->HasPending());
  }

  TEST_CASE("PushForeign beyond foreign_limit is ResourceExhausted until "
            "the consumer drains") {
    MailboxOptions options;
    options.lane_capacity = 64;
    options.foreign_limit = 8;
    options.batch = 3;
    auto created = Mailbox::Create(options);
    REQUIRE(created.ok());
    Mailbox& mailbox = **created;
    for (uint64_t i = 0; i < 8; ++i) {
      REQUIRE(mailbox.PushForeign(MakeMsg(0, i)).ok());
    }
    Envelope refused = MakeMsg(0, 8);
    CHECK(mailbox.PushForeign(std::move(refused)).code() ==
          absl::StatusCode::kResourceExhausted);
    REQUIRE(refused.As<Msg>() != nullptr);  // still the caller's
    CHECK(mailbox.HasPending());
    OrderChecker check(1);
    CHECK(mailbox.Drain(check) == 3);  // batch = 3
    for (uint64_t i = 8; i < 11; ++i) {
      Envelope e = i == 8 ? std::move(refused) : MakeMsg(0, i);
      CHECK(mailbox.PushForeign(std::move(e)).ok());
    }
    CHECK(mailbox.PushForeign(MakeMsg(0, 11)).code() ==
          absl::StatusCode::kResourceExhausted);
    while (mailbox.Drain(check) > 0) {
    }
    CHECK(check.received == 11);
    CHECK(check.errors == 0);
    CHECK_FALSE(mailbox.HasPending());
  }

  TEST_CASE("CloseForeign runs what was queued, then PushForeign is "
            "FailedPrecondition and the message stays with the caller") {
    auto mailbox = MakeMailbox(64);
    for (uint64_t i = 0; i < 5; ++i) {
      REQUIRE(mailbox->PushForeign(MakeMsg(0, i)).ok());
    }
    OrderChecker check(1);
    CHECK(mailbox->CloseForeign(check) == 5);
    CHECK(check.received == 5);
    CHECK(check.errors == 0);
    Envelope late = MakeMsg(0, 5);
    const absl::Status s = mailbox->PushForeign(std::move(late));
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    REQUIRE(late.As<Msg>() != nullptr);  // still the caller's
    CHECK(late.As<Msg>()->seq == 5);
    CHECK_FALSE(mailbox->HasPending());
    CHECK(mailbox->CloseForeign(check) == 0);  // closing again: nothing
  }

  TEST_CASE("foreign threads racing with CloseForeign: every message is "
            "either refused or run exactly once, never stranded") {
    // The senders push until they are refused, so the close always lands
    // in the middle of their runs, however the threads are scheduled.
    constexpr uint64_t kThreads = 3;
    const uint64_t before_close = Scaled(100'000);
    auto mailbox = MakeMailbox(64);
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> refused{0};
    std::vector<std::thread> threads;
    for (uint64_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t i = 0;; ++i) {
          Envelope e = MakeMsg(t, i);
          absl::Status s = mailbox->PushForeign(std::move(e));
          while (s.code() == absl::StatusCode::kResourceExhausted) {
            std::this_thread::yield();  // the queue is at its limit: retry
            s = mailbox->PushForeign(std::move(e));
          }
          if (s.ok()) {
            accepted.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
          CHECK(e.As<Msg>() != nullptr);  // a refused message stays here
          refused.fetch_add(1, std::memory_order_relaxed);
          return;
        }
      });
    }
    OrderChecker check(kThreads);
    while (check.received < before_close) {
      if (mailbox->Drain(check) == 0) std::this_thread::yield();
    }
    mailbox->CloseForeign(check);
    const uint64_t run_at_close = check.received;
    for (auto& t : threads) t.join();
    CHECK(mailbox->Drain(check) == 0);  // nothing got in after the close
    CHECK(check.received == run_at_close);
    CHECK(check.errors == 0);
    CHECK(check.received == accepted.load());  // run once, none stranded
    CHECK(refused.load() == kThreads);         // each sender refused once
    CHECK_FALSE(mailbox->HasPending());
  }

  TEST_CASE("messages from four foreign threads arrive in per-thread FIFO "
            "order, with the limit pushing back") {
    constexpr uint64_t kThreads = 4;
    const uint64_t per_thread = Scaled(200'000);
    // A small limit so that producers meet ResourceExhausted and retry.
    auto mailbox = MakeMailbox(64, /*foreign_limit=*/1024);
    std::atomic<uint64_t> refusals{0};
    std::vector<std::thread> threads;
    for (uint64_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t i = 0; i < per_thread; ++i) {
          Envelope e = MakeMsg(t, i);
          while (true) {
            const absl::Status s = mailbox->PushForeign(std::move(e));
            if (s.ok()) break;
            CHECK(s.code() == absl::StatusCode::kResourceExhausted);
            refusals.fetch_add(1, std::memory_order_relaxed);
            std::this_thread::yield();
          }
        }
      });
    }
    OrderChecker check(kThreads);
    while (check.received + check.errors < kThreads * per_thread) {
      if (mailbox->Drain(check) == 0) std::this_thread::yield();
    }
    for (auto& t : threads) t.join();
    CHECK(check.errors == 0);
    for (uint64_t t = 0; t < kThreads; ++t) CHECK(check.next[t] == per_thread);
    CHECK(mailbox->Drain(check) == 0);
    CHECK_FALSE(mailbox->HasPending());
    MESSAGE("foreign-limit refusals: " << refusals.load());
  }
}

TEST_SUITE("Mailbox wake-up") {
  // The consumer loop of a parking event loop: drain; when nothing came,
  // keep polling for `spin` (zero: not at all), then TryPark and block on
  // the eventfd with no timeout, then Unpark.
  struct Consumer {
    Consumer(Mailbox* mailbox, size_t senders, uint64_t total,
             std::chrono::microseconds spin)
        : mailbox(mailbox),
          check(senders),
          consumed_from(senders),
          total(total),
          spin(spin) {}

    void Run() {
      Parker parker(mailbox->wake_fd());
      bool idle = false;
      std::chrono::steady_clock::time_point idle_since;
      while (check.received + check.errors < total) {
        const size_t n = mailbox->Drain([this](Envelope& e) {
          check(e);
          const Msg* m = e.As<Msg>();
          if (m != nullptr && m->sender < consumed_from.size()) {
            consumed_from[m->sender].fetch_add(1, std::memory_order_release);
          }
        });
        if (n != 0) {
          idle = false;
          continue;
        }
        if (spin.count() > 0) {
          const auto now = std::chrono::steady_clock::now();
          if (!idle) {
            idle = true;
            idle_since = now;
          }
          if (now - idle_since < spin) continue;
        }
        idle = false;
        if (!mailbox->TryPark()) continue;
        parked.store(true, std::memory_order_release);
        parks.fetch_add(1, std::memory_order_relaxed);
        parker.Wait();
        parked.store(false, std::memory_order_relaxed);
        mailbox->Unpark();
      }
    }

    Mailbox* mailbox;
    OrderChecker check;
    std::vector<std::atomic<uint64_t>> consumed_from;
    uint64_t total;
    std::chrono::microseconds spin;
    std::atomic<bool> parked{false};
    std::atomic<uint64_t> parks{0};
  };

  // After a burst a sender either goes on at once, waits until its
  // messages are consumed (racing with the consumer going to sleep), or
  // waits until the consumer has parked (so that the next burst must wake
  // it).
  void Gap(std::mt19937& rng, Consumer& consumer, uint64_t sender,
           uint64_t sent) {
    switch (rng() % 3) {
      case 0:
        return;
      case 1:
        while (consumer.consumed_from[sender].load(std::memory_order_acquire) <
               sent) {
          std::this_thread::yield();
        }
        return;
      default:
        while (!consumer.parked.load(std::memory_order_acquire)) {
          std::this_thread::yield();
        }
    }
  }

  TEST_CASE("a consumer that parks whenever it is idle never misses a "
            "message from three sending loops' lanes or a foreign thread") {
    constexpr uint64_t kLoops = 3;  // senders 0..2; the foreign thread is 3
    const uint64_t per_sender = Scaled(200'000);
    auto mailbox = MakeMailbox(256, 1 << 16, kLoops);
    Consumer consumer(mailbox.get(), kLoops + 1, (kLoops + 1) * per_sender,
                      std::chrono::microseconds(0));
    std::thread consumer_thread([&] { consumer.Run(); });

    std::vector<std::thread> senders;
    for (uint64_t loop = 0; loop < kLoops; ++loop) {
      senders.emplace_back([&, loop] {  // a loop thread with its own outbox
        std::mt19937 rng(static_cast<uint32_t>(1 + loop));
        Outbox outbox(mailbox.get(), loop, 1 << 20);
        uint64_t sent = 0;
        while (sent < per_sender) {
          const uint64_t burst =
              std::min<uint64_t>(1 + rng() % 64, per_sender - sent);
          for (uint64_t i = 0; i < burst; ++i) {
            CHECK(outbox.Push(MakeMsg(loop, sent++)).ok());
            if (outbox.size() >= Outbox::kFlushEvery) outbox.Flush();
          }
          FlushAll(outbox);  // the end of the loop's turn
          if (sent < per_sender) Gap(rng, consumer, loop, sent);
        }
      });
    }
    senders.emplace_back([&] {  // a foreign thread
      std::mt19937 rng(100);
      uint64_t sent = 0;
      while (sent < per_sender) {
        const uint64_t burst =
            std::min<uint64_t>(1 + rng() % 64, per_sender - sent);
        for (uint64_t i = 0; i < burst; ++i) {
          CHECK(mailbox->PushForeign(MakeMsg(kLoops, sent++)).ok());
        }
        if (sent < per_sender) Gap(rng, consumer, kLoops, sent);
      }
    });
    for (auto& t : senders) t.join();
    consumer_thread.join();

    CHECK(consumer.check.errors == 0);
    for (uint64_t s = 0; s <= kLoops; ++s) {
      CHECK(consumer.check.next[s] == per_sender);
    }
    CHECK(consumer.parks.load() > 0);
    CHECK(mailbox->wakeups() > 0);
    CHECK(mailbox->Drain([](Envelope&) {}) == 0);  // no duplicate behind
    MESSAGE("parks: " << consumer.parks.load()
                      << ", eventfd writes: " << mailbox->wakeups()
                      << ", messages: " << (kLoops + 1) * per_sender);
  }

  // How few eventfd writes a busy consumer costs its producers depends on the
  // schedule; perf/mailbox_bench measures it ("busy consumer: eventfd writes
  // per 1000 msgs"). This asserts what holds under any schedule.
  TEST_CASE("a consumer that polls before parking receives every batch a producer flushes") {
    const uint64_t total = Scaled(2'000'000);
    auto mailbox = MakeMailbox(1024);
    // Poll for a short window before parking, as a loop does before
    // epoll_wait.
    Consumer consumer(mailbox.get(), 1, total, std::chrono::microseconds(50));
    std::thread consumer_thread([&] { consumer.Run(); });
    {
      Outbox outbox(mailbox.get(), 0, 1 << 20);
      for (uint64_t sent = 0; sent < total;) {
        REQUIRE(outbox.Push(MakeMsg(0, sent++)).ok());
        if (outbox.size() >= Outbox::kFlushEvery) outbox.Flush();
      }
      FlushAll(outbox);
    }
    consumer_thread.join();
    CHECK(consumer.check.errors == 0);
    CHECK(consumer.check.received == total);
    MESSAGE("eventfd writes: " << mailbox->wakeups() << ", parks: "
                                << consumer.parks.load() << ", messages: " << total);
  }
}

}  // namespace
}  // namespace actnet::testing
