// Lanes: one sending loop's single-producer ring into another loop's
// mailbox. A small lane (4 and 8 slots) wraps over many laps with partial
// publishes, alone and between two threads; 1, 2, 4 and 8 sending loops
// (threads, each with its own Outbox and sender index) x 1,000,000
// messages into one mailbox lose nothing, duplicate nothing and keep each
// sender's order; two loops flooding each other both progress. Counts
// shrink under sanitizers (test_scale.h).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actors/lane.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "actors/envelope.h"
#include "actors/envelope_queue.h"
#include "actors/mailbox.h"
#include "doctest/doctest.h"
#include "tests/actors/mailbox_testing.h"
#include "tests/testing/test_scale.h"

namespace actnet::testing {
namespace {

uint64_t SeqOf(EnvelopeQueue& q) { return q.Front().As<Msg>()->seq; }

TEST_SUITE("Lane") {
  TEST_CASE("Publish moves what fits from the front of the queue, leaves "
            "the rest in order, and takes more once slots are consumed") {
    Lane lane(8);
    EnvelopeQueue queue;
    for (uint64_t i = 0; i < 12; ++i) queue.Push(MakeMsg(0, i));
    CHECK_FALSE(lane.HasPending());
    CHECK(lane.Publish(queue) == 8);
    CHECK(lane.HasPending());
    REQUIRE(queue.size() == 4);
    CHECK(SeqOf(queue) == 8);
    CHECK(lane.Publish(queue) == 0);  // full: nothing moves
    CHECK(queue.size() == 4);

    OrderChecker check(1);
    CHECK(lane.Consume(3, check) == 3);
    CHECK(lane.Publish(queue) == 3);
    REQUIRE(queue.size() == 1);
    CHECK(SeqOf(queue) == 11);
    // The consumer reads the cursor once per batch: it first finishes what
    // it saw at its last read, then takes the three published since.
    CHECK(lane.Consume(100, check) == 5);
    CHECK(lane.Consume(100, check) == 3);
    CHECK(lane.Publish(queue) == 1);
    CHECK(queue.empty());
    CHECK(lane.Publish(queue) == 0);  // an empty queue publishes nothing
    CHECK(lane.Consume(100, check) == 1);
    CHECK(lane.Consume(100, check) == 0);
    CHECK_FALSE(lane.HasPending());
    CHECK(check.received == 12);
    CHECK(check.errors == 0);
  }

  TEST_CASE("TryBuild builds in the next slot, in order with TryPlace; a "
            "full lane refuses without calling build") {
    Lane lane(4);
    auto build = [](uint64_t seq) {
      return [seq](Envelope& e) {
        REQUIRE(e.empty());
        e.Emplace<Msg>(kTarget, Msg{0, seq});
      };
    };
    CHECK(lane.TryBuild(build(0)));
    Envelope one = MakeMsg(0, 1);
    CHECK(lane.TryPlace(one));
    CHECK(lane.TryBuild(build(2)));
    CHECK(lane.TryBuild(build(3)));
    CHECK(lane.placed() == 4);
    bool called = false;
    CHECK_FALSE(lane.TryBuild([&](Envelope&) { called = true; }));
    CHECK_FALSE(called);
    EnvelopeQueue none;
    CHECK(lane.Publish(none) == 4);

    OrderChecker check(1);
    CHECK(lane.Consume(2, check) == 2);
    // Two slots free again, the next lap's.
    CHECK(lane.TryBuild(build(4)));
    CHECK(lane.TryBuild(build(5)));
    CHECK_FALSE(lane.TryBuild([&](Envelope&) { called = true; }));
    CHECK_FALSE(called);
    CHECK(lane.Publish(none) == 2);
    CHECK(lane.Consume(100, check) == 2);
    CHECK(lane.Consume(100, check) == 2);
    CHECK(check.received == 6);
    CHECK(check.errors == 0);
  }

  TEST_CASE("every payload is destroyed exactly once: when consumed, by "
            "whoever moved it out, or by the lane's destructor") {
    // Each message holds a reference to `alive`: its use count is 1 plus
    // the payloads not yet destroyed.
    auto alive = std::make_shared<int>(0);
    std::vector<Envelope> moved_out;
    {
      Lane lane(4);
      EnvelopeQueue none;
      for (int lap = 0; lap < 3; ++lap) {
        for (int i = 0; i < 4; ++i) {
          REQUIRE(lane.TryBuild([&](Envelope& e) {
            REQUIRE(e.empty());  // build is given an empty envelope
            e.Emplace<std::shared_ptr<int>>(kTarget, alive);
          }));
        }
        CHECK(lane.Publish(none) == 4);
        CHECK(alive.use_count() == 1 + 4 + lap);
        // Run three: keep the first one's payload by moving it out.
        bool first = true;
        auto fn = [&](Envelope& e) {
          REQUIRE(e.As<std::shared_ptr<int>>() != nullptr);
          if (first) moved_out.push_back(std::move(e));
          first = false;
        };
        CHECK(lane.Consume(3, fn) == 3);
        // Two destroyed by the lane, one moved out (alive), one waiting.
        CHECK(alive.use_count() == 1 + 2 + lap);
        CHECK(lane.Consume(1, fn) == 1);
        CHECK(alive.use_count() == 1 + 1 + lap);
      }
      // Two more published and never consumed: the destructor's.
      for (int i = 0; i < 2; ++i) {
        REQUIRE(lane.TryBuild([&](Envelope& e) {
          e.Emplace<std::shared_ptr<int>>(kTarget, alive);
        }));
      }
      CHECK(lane.Publish(none) == 2);
      CHECK(alive.use_count() == 1 + 3 + 2);
    }
    CHECK(alive.use_count() == 1 + 3);
    moved_out.clear();
    CHECK(alive.use_count() == 1);
  }

  TEST_CASE("a lane of 4 or 8 slots wraps over many laps in partial "
            "batches without loss, duplicate or reorder") {
    for (size_t capacity : {size_t{4}, size_t{8}}) {
      CAPTURE(capacity);
      Lane lane(capacity);
      EnvelopeQueue queue;
      OrderChecker check(1);
      std::mt19937 rng(static_cast<uint32_t>(capacity));
      const uint64_t total = capacity * 50'000;  // 50,000 laps
      uint64_t sent = 0;
      uint64_t published = 0;
      while (check.received + check.errors < total) {
        // Stage up to two lanes' worth, publish what fits, consume some.
        const uint64_t k = std::min<uint64_t>(1 + rng() % (2 * capacity),
                                              total - sent);
        for (uint64_t i = 0; i < k; ++i) queue.Push(MakeMsg(0, sent++));
        published += lane.Publish(queue);
        lane.Consume(1 + rng() % capacity, check);
      }
      CHECK(sent == total);
      CHECK(published == total);
      CHECK(queue.empty());
      CHECK(check.errors == 0);
      CHECK(check.next[0] == total);
      CHECK_FALSE(lane.HasPending());
    }
  }

  TEST_CASE("a lane of 8 slots between two threads wraps over many laps "
            "without loss, duplicate or reorder") {
    const uint64_t total = Scaled(1'000'000);
    Lane lane(8);
    std::thread producer([&] {
      std::mt19937 rng(7);
      EnvelopeQueue queue;
      uint64_t sent = 0;
      while (sent < total || !queue.empty()) {
        const uint64_t k = std::min<uint64_t>(1 + rng() % 12, total - sent);
        for (uint64_t i = 0; i < k; ++i) queue.Push(MakeMsg(0, sent++));
        if (lane.Publish(queue) == 0) std::this_thread::yield();
      }
    });
    OrderChecker check(1);
    std::mt19937 rng(8);
    while (check.received + check.errors < total) {
      if (lane.Consume(1 + rng() % 5, check) == 0) std::this_thread::yield();
    }
    producer.join();
    CHECK(check.errors == 0);
    CHECK(check.next[0] == total);
    CHECK(lane.Consume(100, check) == 0);
    CHECK_FALSE(lane.HasPending());
  }
}

// `loops` threads, each a sending loop with its own Outbox (its thread
// number is its sender index), send `per_sender` messages each into one
// mailbox, drained on this thread. A sender behaves as a loop does: it
// publishes every kFlushEvery sends and at the end of each turn (a random
// 1..200 sends), never waits for room, and when its outbox is at its limit
// flushes and tries again.
void RunLoops(size_t loops, size_t lane_capacity, uint64_t per_sender) {
  auto mailbox = MakeMailbox(lane_capacity, 1 << 16, /*senders=*/loops);
  std::vector<std::thread> threads;
  for (uint64_t loop = 0; loop < loops; ++loop) {
    threads.emplace_back([&, loop] {
      std::mt19937 rng(static_cast<uint32_t>(loop + 1));
      Outbox outbox(mailbox.get(), loop, 4096);
      uint64_t sent = 0;
      uint64_t turn_left = 1 + rng() % 200;
      while (sent < per_sender) {
        Envelope e = MakeMsg(loop, sent);
        absl::Status s = outbox.Push(std::move(e));
        while (s.code() == absl::StatusCode::kResourceExhausted) {
          if (!outbox.Flush()) std::this_thread::yield();
          s = outbox.Push(std::move(e));
        }
        CHECK(s.ok());
        ++sent;
        if (outbox.size() >= Outbox::kFlushEvery) outbox.Flush();
        if (--turn_left == 0) {
          outbox.Flush();  // the end of the turn
          turn_left = 1 + rng() % 200;
        }
      }
      FlushAll(outbox);
    });
  }
  OrderChecker check(loops);
  const uint64_t total = per_sender * loops;
  while (check.received + check.errors < total) {
    if (mailbox->Drain(check) == 0) std::this_thread::yield();
  }
  for (auto& t : threads) t.join();
  CHECK(check.errors == 0);
  for (uint64_t loop = 0; loop < loops; ++loop) {
    CHECK(check.next[loop] == per_sender);
  }
  // Nothing more arrives: no duplicate hid behind the count.
  CHECK(mailbox->Drain(check) == 0);
  CHECK_FALSE(mailbox->HasPending());
}

TEST_SUITE("Mailbox lanes") {
  TEST_CASE("one sending loop x 1,000,000 messages: no loss, no duplicate, "
            "in order") {
    RunLoops(1, 1024, Scaled(1'000'000));
  }

  TEST_CASE("two sending loops x 1,000,000 messages each: no loss, no "
            "duplicate, each sender's order kept") {
    RunLoops(2, 1024, Scaled(1'000'000));
  }

  TEST_CASE("four sending loops x 1,000,000 messages each into lanes of "
            "256: no loss, no duplicate, each sender's order kept") {
    RunLoops(4, 256, Scaled(1'000'000));
  }

  TEST_CASE("eight sending loops x 1,000,000 messages each into lanes of "
            "64: no loss, no duplicate, each sender's order kept") {
    RunLoops(8, 64, Scaled(1'000'000));
  }
}

// Two loops that flood each other: loop i owns a mailbox with a lane of 64
// slots for the other loop and an outbox into the other's mailbox (sender
// index i). Each starts kInitial messages, and every message bounces back
// and forth kHops times, so thousands are in flight against lanes of 64:
// both lanes are full all the time and the backlog lives in the outboxes.
// Neither loop ever blocks.
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
    if (side.outbox->size() >= Outbox::kFlushEvery) side.outbox->Flush();
  }

  TEST_CASE("two loops flooding each other both progress and lose nothing") {
    const uint32_t kInitial = static_cast<uint32_t>(Scaled(20'000));
    const uint32_t kHops = 20;
    const uint64_t total_terminations = 2 * uint64_t{kInitial};
    std::atomic<uint64_t> terminated{0};
    Side sides[2];
    for (auto& s : sides) s.mailbox = MakeMailbox(64, 1 << 16, /*senders=*/2);
    sides[0].outbox =
        std::make_unique<Outbox>(sides[1].mailbox.get(), 0, 1 << 22);
    sides[1].outbox =
        std::make_unique<Outbox>(sides[0].mailbox.get(), 1, 1 << 22);

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

}  // namespace
}  // namespace actnet::testing
