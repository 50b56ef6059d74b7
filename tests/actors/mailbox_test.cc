// Mailbox and Outbox: outbox batching and back-pressure, the outbox and
// foreign-queue limits, per-thread FIFO from foreign threads, two loops
// flooding each other, and the park / wake-up handshake under stress (a
// consumer that blocks in epoll_wait with no timeout, so a lost wake-up is a
// hang that Bazel's timeout turns into a failure).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sys/epoll.h>
#include <unistd.h>

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
#include "tests/testing/test_scale.h"

namespace actnet {
namespace {

using testing::Scaled;

struct Msg {
  uint64_t sender;
  uint64_t seq;
};

constexpr MessageTarget kTarget{1, 1};

Envelope MakeMsg(uint64_t sender, uint64_t seq) {
  return Envelope::Make<Msg>(kTarget, Msg{sender, seq});
}

std::unique_ptr<Mailbox> MakeMailbox(size_t ring_capacity,
                                     size_t foreign_limit = 1 << 16,
                                     size_t max_producers = 1) {
  MailboxOptions options;
  options.ring_capacity = ring_capacity;
  options.foreign_limit = foreign_limit;
  options.max_producers = max_producers;
  auto mailbox = Mailbox::Create(options);
  REQUIRE(mailbox.ok());
  return std::move(*mailbox);
}

// Checks FIFO order per sender: sender s's messages carry 0, 1, 2, ...
struct OrderChecker {
  explicit OrderChecker(size_t senders) : next(senders, 0) {}
  void operator()(Envelope& e) {
    const Msg* m = e.As<Msg>();
    if (m == nullptr || m->sender >= next.size() || m->seq != next[m->sender]) {
      ++errors;
      return;
    }
    ++next[m->sender];
    ++received;
  }
  std::vector<uint64_t> next;
  uint64_t received = 0;
  uint64_t errors = 0;
};

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

// Flushes until the outbox is empty, yielding while the ring is full.
void FlushAll(Outbox& outbox) {
  while (!outbox.Flush()) std::this_thread::yield();
}

TEST_SUITE("Outbox") {
  TEST_CASE("Flush publishes a large backlog in order, in claims of up to "
            "32") {
    auto mailbox = MakeMailbox(1024);
    Outbox outbox(mailbox.get(), 1000);
    for (uint64_t i = 0; i < 100; ++i) {
      REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    }
    CHECK(outbox.size() == 100);
    CHECK(outbox.Flush());
    CHECK(outbox.empty());
    OrderChecker check(1);
    CHECK(mailbox->Drain(check) == 100);
    CHECK(check.errors == 0);
  }

  TEST_CASE("a batch is one all-or-nothing claim: a ring with 12 free slots "
            "takes none of a 20-message batch") {
    auto mailbox = MakeMailbox(64);  // usable: 64 - 32 = 32 slots
    Outbox outbox(mailbox.get(), 1000);
    for (uint64_t i = 0; i < 20; ++i) REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    CHECK(outbox.Flush());
    for (uint64_t i = 20; i < 40; ++i) REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    CHECK_FALSE(outbox.Flush());
    CHECK(outbox.size() == 20);  // one claim of 20, refused whole
    OrderChecker check(1);
    CHECK(mailbox->Drain(check) == 20);
    CHECK(outbox.Flush());
    CHECK(mailbox->Drain(check) == 20);
    CHECK(check.received == 40);
    CHECK(check.errors == 0);
  }

  TEST_CASE("when the ring is full the backlog stays in the outbox in order "
            "and later sends queue behind it") {
    auto mailbox = MakeMailbox(64);
    Outbox outbox(mailbox.get(), 10000);
    OrderChecker check(1);
    uint64_t sent = 0;
    for (int round = 0; round < 50; ++round) {
      // Send more than fits, flush, take a little, repeat: the outbox is
      // never empty and the ring is full after every flush.
      for (int i = 0; i < 45; ++i) REQUIRE(outbox.Push(MakeMsg(0, sent++)).ok());
      CHECK_FALSE(outbox.Flush());
      mailbox->ring().ConsumeBatch(7, check);
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
    auto mailbox = MakeMailbox(64);
    Outbox outbox(mailbox.get(), 40);
    for (uint64_t i = 0; i < 40; ++i) REQUIRE(outbox.Push(MakeMsg(0, i)).ok());
    Envelope refused = MakeMsg(0, 40);
    const absl::Status status = outbox.Push(std::move(refused));
    CHECK(status.code() == absl::StatusCode::kResourceExhausted);
    REQUIRE(refused.As<Msg>() != nullptr);
    CHECK(refused.As<Msg>()->seq == 40);
    CHECK(outbox.size() == 40);
    // Room again once the backlog drains into the ring.
    CHECK_FALSE(outbox.Flush());
    CHECK(outbox.size() == 8);
    CHECK(outbox.Push(std::move(refused)).ok());
  }
}

TEST_SUITE("Mailbox") {
  TEST_CASE("Create rejects a bad configuration") {
    MailboxOptions options;
    options.ring_capacity = 100;
    CHECK(Mailbox::Create(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
    options.ring_capacity = 64;
    options.max_producers = 2;  // needs 2 * 2 * 32 = 128 slots
    CHECK(Mailbox::Create(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
    options.max_producers = 1;
    options.batch = 0;
    CHECK(Mailbox::Create(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }

  TEST_CASE("PushForeign beyond foreign_limit is ResourceExhausted until "
            "the consumer drains") {
    MailboxOptions options;
    options.ring_capacity = 64;
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

// Two loops that flood each other: each owns a mailbox with a 64-slot ring
// (32 usable) and an outbox to the other. Each starts kInitial messages,
// and every message bounces back and forth kHops times, so thousands are in
// flight against rings of 32: both rings are full all the time and the
// backlog lives in the outboxes. Neither loop ever blocks.
TEST_SUITE("Mailbox flood") {
  struct Hop {
    uint64_t link_seq;  // per-direction sequence, checks sender order
    uint32_t hops_left;
  };

  struct Side {
    std::unique_ptr<Mailbox> mailbox;
    std::unique_ptr<Outbox> outbox;
    uint64_t next_out = 0;  // link_seq for the next message sent
    uint64_t next_in = 0;   // link_seq expected from the other side
    uint64_t received = 0;
    uint64_t order_errors = 0;
    uint64_t refusals = 0;
  };

  void Send(Side& side, uint32_t hops_left) {
    Envelope e =
        Envelope::Make<Hop>(kTarget, Hop{side.next_out, hops_left});
    // Unbounded in practice (the limit exceeds the messages in flight).
    if (!side.outbox->Push(std::move(e)).ok()) {
      ++side.refusals;
      return;
    }
    ++side.next_out;
    if (side.outbox->size() >= 32) side.outbox->Flush();
  }

  TEST_CASE("two loops flooding each other both progress and lose nothing") {
    const uint32_t kInitial = static_cast<uint32_t>(Scaled(20'000));
    const uint32_t kHops = 20;
    const uint64_t total_terminations = 2 * uint64_t{kInitial};
    std::atomic<uint64_t> terminated{0};
    Side sides[2];
    for (auto& s : sides) s.mailbox = MakeMailbox(64);
    sides[0].outbox = std::make_unique<Outbox>(sides[1].mailbox.get(), 1 << 22);
    sides[1].outbox = std::make_unique<Outbox>(sides[0].mailbox.get(), 1 << 22);

    auto loop = [&](Side& self) {
      for (uint32_t i = 0; i < kInitial; ++i) Send(self, kHops);
      self.outbox->Flush();
      while (terminated.load(std::memory_order_acquire) < total_terminations) {
        const size_t n = self.mailbox->Drain([&](Envelope& e) {
          const Hop* h = e.As<Hop>();
          if (h->link_seq != self.next_in) ++self.order_errors;
          self.next_in = h->link_seq + 1;
          ++self.received;
          if (h->hops_left == 0) {
            terminated.fetch_add(1, std::memory_order_acq_rel);
          } else {
            Send(self, h->hops_left - 1);
          }
        });
        const bool flushed = self.outbox->Flush();  // end of the iteration
        if (n == 0 && flushed) std::this_thread::yield();
      }
    };
    std::thread a([&] { loop(sides[0]); });
    std::thread b([&] { loop(sides[1]); });
    a.join();
    b.join();

    // Each message is received kHops + 1 times, alternately by each side.
    const uint64_t per_side = uint64_t{kInitial} * (kHops + 1);
    for (auto& s : sides) {
      CHECK(s.order_errors == 0);
      CHECK(s.refusals == 0);
      CHECK(s.received == per_side);
      CHECK(s.outbox->empty());
      CHECK_FALSE(s.mailbox->HasPending());
    }
    CHECK(sides[0].next_out == sides[1].next_in);
    CHECK(sides[1].next_out == sides[0].next_in);
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
            "message from an outbox or a foreign thread") {
    const uint64_t per_sender = Scaled(300'000);
    auto mailbox = MakeMailbox(256);
    Consumer consumer(mailbox.get(), 2, 2 * per_sender, std::chrono::microseconds(0));
    std::thread consumer_thread([&] { consumer.Run(); });

    std::thread loop_sender([&] {  // sender 0: a loop thread with an outbox
      std::mt19937 rng(1);
      Outbox outbox(mailbox.get(), 1 << 20);
      uint64_t sent = 0;
      while (sent < per_sender) {
        const uint64_t burst = std::min<uint64_t>(1 + rng() % 64,
                                                  per_sender - sent);
        for (uint64_t i = 0; i < burst; ++i) {
          CHECK(outbox.Push(MakeMsg(0, sent++)).ok());
          if (outbox.size() >= 32) outbox.Flush();
        }
        FlushAll(outbox);
        if (sent < per_sender) Gap(rng, consumer, 0, sent);
      }
    });
    std::thread foreign_sender([&] {  // sender 1: a foreign thread
      std::mt19937 rng(2);
      uint64_t sent = 0;
      while (sent < per_sender) {
        const uint64_t burst = std::min<uint64_t>(1 + rng() % 64,
                                                  per_sender - sent);
        for (uint64_t i = 0; i < burst; ++i) {
          CHECK(mailbox->PushForeign(MakeMsg(1, sent++)).ok());
        }
        if (sent < per_sender) Gap(rng, consumer, 1, sent);
      }
    });
    loop_sender.join();
    foreign_sender.join();
    consumer_thread.join();

    CHECK(consumer.check.errors == 0);
    CHECK(consumer.check.next[0] == per_sender);
    CHECK(consumer.check.next[1] == per_sender);
    CHECK(consumer.parks.load() > 0);
    CHECK(mailbox->wakeups() > 0);
    MESSAGE("parks: " << consumer.parks.load()
                      << ", eventfd writes: " << mailbox->wakeups()
                      << ", messages: " << 2 * per_sender);
  }

  // How few eventfd writes a busy consumer costs its producers depends on the
  // schedule; perf/mailbox_bench measures it ("busy consumer: eventfd writes
  // per 1000 msgs"). This asserts what holds under any schedule.
  TEST_CASE("a consumer that polls before parking receives every batch a producer flushes") {
    const uint64_t total = Scaled(2'000'000);
    auto mailbox = MakeMailbox(4096);
    // Poll for a short window before parking, as a loop does before
    // epoll_wait.
    Consumer consumer(mailbox.get(), 1, total, std::chrono::microseconds(50));
    std::thread consumer_thread([&] { consumer.Run(); });
    {
      Outbox outbox(mailbox.get(), 1 << 20);
      for (uint64_t sent = 0; sent < total;) {
        REQUIRE(outbox.Push(MakeMsg(0, sent++)).ok());
        if (outbox.size() >= 32) outbox.Flush();
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
}  // namespace actnet
