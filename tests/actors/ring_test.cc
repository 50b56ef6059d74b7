// MpscRing: wrap-around (slots and the 16-bit round number), several
// producers with claims of one and of several slots against one consumer
// (no loss, no duplicate, per-producer order), the full ring, and the
// reserve invariant. Real threads; counts shrink under sanitizers.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "actors/envelope.h"
#include "actors/ring.h"
#include "doctest/doctest.h"
#include "tests/testing/test_scale.h"

namespace actnet {
namespace {

using testing::Scaled;

struct Msg {
  uint64_t producer;
  uint64_t seq;
};
static_assert(kFitsInline<Msg>);

constexpr MessageTarget kTarget{1, 1};

Envelope MakeMsg(uint64_t producer, uint64_t seq) {
  return Envelope::Make<Msg>(kTarget, Msg{producer, seq});
}

// Claims `n` slots (retrying while full) and publishes n messages.
void PublishRun(MpscRing& ring, int64_t* cached, uint64_t producer,
                uint64_t first_seq, size_t n) {
  int64_t seq;
  while ((seq = ring.TryClaim(n, cached)) < 0) std::this_thread::yield();
  for (size_t i = 0; i < n; ++i) {
    ring.Publish(seq + static_cast<int64_t>(i),
                 MakeMsg(producer, first_seq + i));
  }
}

// Runs `producers` threads that each send `per_producer` messages in claims
// whose sizes cycle through 1..max_run, and consumes on this thread with
// ConsumeBatch(256). Checks order per producer, no loss, no duplicate.
void RunProducers(size_t capacity, size_t producers, size_t max_claim,
                  size_t max_run, uint64_t per_producer) {
  MpscRing ring(capacity, producers, max_claim);
  std::vector<std::thread> threads;
  for (uint64_t p = 0; p < producers; ++p) {
    threads.emplace_back([&ring, p, max_run, per_producer] {
      int64_t cached = 0;
      uint64_t sent = 0;
      size_t run = 1 + p % max_run;
      while (sent < per_producer) {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(run, per_producer - sent));
        PublishRun(ring, &cached, p, sent, n);
        sent += n;
        run = run % max_run + 1;
      }
    });
  }
  std::vector<uint64_t> next(producers, 0);
  uint64_t received = 0;
  uint64_t out_of_order = 0;
  const uint64_t total = per_producer * producers;
  while (received < total) {
    const size_t n = ring.ConsumeBatch(256, [&](Envelope& e) {
      const Msg* m = e.As<Msg>();
      if (m == nullptr || m->producer >= producers ||
          m->seq != next[m->producer]) {
        ++out_of_order;
        return;
      }
      ++next[m->producer];
    });
    received += n;
    if (n == 0) std::this_thread::yield();
  }
  for (auto& t : threads) t.join();
  CHECK(out_of_order == 0);
  for (uint64_t p = 0; p < producers; ++p) CHECK(next[p] == per_producer);
  // Nothing more arrives: no duplicate hid behind the count.
  CHECK(ring.ConsumeBatch(256, [](Envelope&) {}) == 0);
  CHECK_FALSE(ring.HasPending());
}

TEST_SUITE("MpscRing") {
  TEST_CASE("a single-threaded ring wraps its slots and its 16-bit round "
            "number many times without loss or duplicate") {
    // Capacity 4 and claims of 1: the round number (sequence / 4, 16 bits)
    // wraps every 262,144 messages.
    MpscRing ring(4, 1, 1);
    int64_t cached = 0;
    const uint64_t total = uint64_t{4} * 65536 * 3 + 7;
    uint64_t sent = 0;
    uint64_t expected = 0;
    uint64_t errors = 0;
    while (expected < total) {
      // Fill what fits (the usable capacity is 3), then take it all.
      while (sent < total && ring.TryPush(MakeMsg(0, sent), &cached)) ++sent;
      ring.ConsumeBatch(256, [&](Envelope& e) {
        if (e.As<Msg>()->seq != expected) ++errors;
        ++expected;
      });
    }
    CHECK(errors == 0);
    CHECK(sent == total);
  }

  TEST_CASE("a 64-slot ring between two threads wraps many times over") {
    RunProducers(64, 1, 32, 32, Scaled(2'000'000));
  }

  TEST_CASE("one producer with claims of one keeps order and loses nothing") {
    RunProducers(1024, 1, 32, 1, Scaled(1'000'000));
  }

  TEST_CASE("one producer with claims of several keeps order and loses "
            "nothing") {
    RunProducers(1024, 1, 32, 32, Scaled(1'000'000));
  }

  TEST_CASE("two producers with claims of one keep their order") {
    RunProducers(1024, 2, 32, 1, Scaled(1'000'000));
  }

  TEST_CASE("two producers with claims of several keep their order") {
    RunProducers(1024, 2, 32, 32, Scaled(1'000'000));
  }

  TEST_CASE("four producers with claims of one keep their order") {
    RunProducers(1024, 4, 32, 1, Scaled(1'000'000));
  }

  TEST_CASE("four producers with claims of several keep their order, on a "
            "small ring that is full most of the time") {
    RunProducers(256, 4, 16, 16, Scaled(1'000'000));
  }

  TEST_CASE("TryClaim returns -1 when full and nothing is lost after the "
            "consumer catches up") {
    MpscRing ring(64, 1, 32);  // usable: 64 - 1 * 32 = 32
    int64_t cached = 0;
    const int64_t first = ring.TryClaim(32, &cached);
    REQUIRE(first == 0);
    for (uint64_t i = 0; i < 32; ++i) {
      ring.Publish(first + static_cast<int64_t>(i), MakeMsg(0, i));
    }
    CHECK(ring.TryClaim(1, &cached) == -1);
    Envelope refused = MakeMsg(0, 32);
    CHECK_FALSE(ring.TryPush(std::move(refused), &cached));
    REQUIRE(refused.As<Msg>() != nullptr);  // still the caller's
    CHECK(ring.TryClaim(1, &cached) == -1);  // a failed claim claims nothing

    uint64_t expected = 0;
    uint64_t errors = 0;
    auto check = [&](Envelope& e) {
      if (e.As<Msg>()->seq != expected) ++errors;
      ++expected;
    };
    CHECK(ring.ConsumeBatch(10, check) == 10);
    CHECK(ring.TryClaim(11, &cached) == -1);  // only 10 free
    CHECK(ring.TryPush(std::move(refused), &cached));
    const int64_t second = ring.TryClaim(9, &cached);
    CHECK(second == 33);
    for (uint64_t i = 0; i < 9; ++i) {
      ring.Publish(second + static_cast<int64_t>(i), MakeMsg(0, 33 + i));
    }
    CHECK(ring.TryClaim(1, &cached) == -1);
    CHECK(ring.HasPending());
    CHECK(ring.ConsumeBatch(256, check) == 32);
    CHECK(expected == 42);
    CHECK(errors == 0);
    CHECK_FALSE(ring.HasPending());
    CHECK(ring.TryClaim(32, &cached) == 42);  // the stale copy is re-read
  }

  TEST_CASE("claims keep max_producers * max_claim slots in reserve") {
    struct Config {
      size_t capacity, producers, max_claim;
    };
    for (const Config& c : {Config{64, 1, 32}, Config{256, 4, 32},
                            Config{1024, 4, 32}, Config{1024, 16, 8},
                            Config{4, 1, 1}, Config{4096, 1, 32}}) {
      CAPTURE(c.capacity);
      CAPTURE(c.producers);
      CAPTURE(c.max_claim);
      MpscRing ring(c.capacity, c.producers, c.max_claim);
      CHECK(ring.max_claim() == c.max_claim);
      CHECK(ring.usable_capacity() == c.capacity - c.producers * c.max_claim);
      int64_t cached = 0;
      // Twice, so the second pass starts from a stale cached position.
      for (int pass = 0; pass < 2; ++pass) {
        size_t pushed = 0;
        while (ring.TryPush(MakeMsg(0, pushed), &cached)) ++pushed;
        CHECK(pushed == ring.usable_capacity());
        CHECK(ring.ConsumeBatch(c.capacity, [](Envelope&) {}) == pushed);
      }
    }
  }
}

}  // namespace
}  // namespace actnet
