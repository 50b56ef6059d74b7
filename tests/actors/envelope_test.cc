// Envelope and EnvelopeQueue: inline versus boxed payloads, type tests, move
// semantics, tasks, the no-allocation promise for payloads up to 48 bytes
// (proved with a counting global operator new), and exactly-once destruction
// through every path an envelope can take: Reset, move-assignment, the
// EnvelopeQueue, a Lane, the Mailbox (its lanes and its foreign queue) and
// the Outbox.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "actors/envelope.h"
#include "actors/envelope_queue.h"
#include "actors/lane.h"
#include "actors/mailbox.h"
#include "doctest/doctest.h"
#include "tests/testing/tracked.h"

// Counting replacements of the global allocation functions. Every variant
// that the library can reach is replaced, and each pairs malloc-family
// allocation with free, so the sanitizers see consistent pairs.
namespace {
std::atomic<int64_t> g_allocations{0};

void* CountedAlloc(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* CountedAlignedAlloc(size_t n, std::align_val_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = nullptr;
  const size_t a = std::max(static_cast<size_t>(align), sizeof(void*));
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(size_t n) { return CountedAlloc(n); }
void* operator new[](size_t n) { return CountedAlloc(n); }
void* operator new(size_t n, std::align_val_t a) {
  return CountedAlignedAlloc(n, a);
}
void* operator new[](size_t n, std::align_val_t a) {
  return CountedAlignedAlloc(n, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace actnet {
namespace {

using testing::Counters;
using testing::Tracked;

using Inline48 = Tracked<48>;  // exactly the inline size
using Boxed64 = Tracked<64>;   // too big: boxed

template <size_t N>
struct Blob {
  unsigned char bytes[N];
};

struct ThrowingMove {
  ThrowingMove() = default;
  ThrowingMove(ThrowingMove&&) noexcept(false) {}
  int x = 0;
};

struct alignas(32) OverAligned {
  int x = 0;
};

constexpr MessageTarget kTarget{7, 3};

int64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }

// Every payload constructed since Reset() has been destroyed exactly once.
void CheckAllDestroyedOnce() {
  CHECK(Counters().live() == 0);
  CHECK(Counters().double_destroyed == 0);
  CHECK(Counters().moved_from_dead == 0);
}

TEST_SUITE("Envelope") {
  TEST_CASE("payloads up to 48 bytes, 16-aligned and nothrow-movable fit "
            "inline; others are boxed") {
    static_assert(sizeof(Envelope) == 64);
    static_assert(kFitsInline<Blob<1>>);
    static_assert(kFitsInline<Blob<48>>);
    static_assert(!kFitsInline<Blob<49>>);
    static_assert(kFitsInline<Inline48>);
    static_assert(!kFitsInline<Boxed64>);
    static_assert(!kFitsInline<ThrowingMove>);
    static_assert(!kFitsInline<OverAligned>);
    CHECK_FALSE(internal::kMessageOps<Blob<48>>.boxed);
    CHECK(internal::kMessageOps<Blob<49>>.boxed);
    CHECK(internal::kMessageOps<ThrowingMove>.boxed);
    CHECK(internal::kMessageOps<OverAligned>.boxed);
  }

  TEST_CASE("Is and As recognise exactly the payload type") {
    Envelope e = Envelope::Make<std::string>(kTarget, "hello");
    CHECK(e.Is<std::string>());
    CHECK_FALSE(e.Is<int>());
    REQUIRE(e.As<std::string>() != nullptr);
    CHECK(*e.As<std::string>() == "hello");
    CHECK(e.As<int>() == nullptr);
    CHECK(e.target().slot == 7);
    CHECK(e.target().generation == 3);
    CHECK_FALSE(e.is_task());

    Envelope boxed = Envelope::Make<Blob<100>>(kTarget);
    CHECK(boxed.Is<Blob<100>>());
    CHECK_FALSE(boxed.Is<Blob<99>>());
    boxed.As<Blob<100>>()->bytes[99] = 42;
    CHECK(boxed.As<Blob<100>>()->bytes[99] == 42);

    const Envelope& cref = e;
    CHECK(cref.As<std::string>()->size() == 5);

    Envelope empty;
    CHECK(empty.empty());
    CHECK_FALSE(empty.Is<int>());
    CHECK(empty.As<int>() == nullptr);
  }

  TEST_CASE("moving an envelope moves its payload and empties the source") {
    Counters().Reset();
    {
      Envelope a = Envelope::Make<Inline48>(kTarget, 11);
      Envelope b(std::move(a));
      CHECK(a.empty());  // NOLINT(bugprone-use-after-move)
      REQUIRE(b.As<Inline48>() != nullptr);
      CHECK(b.As<Inline48>()->value == 11);
      CHECK(b.target().slot == kTarget.slot);

      Envelope c;
      c = std::move(b);
      CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
      CHECK(c.As<Inline48>()->value == 11);

      Envelope& alias = c;
      c = std::move(alias);  // self-move keeps the payload
      REQUIRE(c.As<Inline48>() != nullptr);
      CHECK(c.As<Inline48>()->value == 11);

      Envelope boxed = Envelope::Make<Boxed64>(kTarget, 12);
      Boxed64* address = boxed.As<Boxed64>();
      Envelope moved(std::move(boxed));
      CHECK(moved.As<Boxed64>() == address);  // a box moves by pointer
      CHECK(Counters().moved == 2);  // only the two inline moves
    }
    CheckAllDestroyedOnce();
  }

  TEST_CASE("a task runs its callable with the context it is given") {
    int context = 5;
    int seen = 0;
    Envelope small;
    small.EmplaceTask(kTarget, [&seen](void* ctx) {
      seen = *static_cast<int*>(ctx) + 1;
    });
    CHECK(small.is_task());
    CHECK_FALSE(small.ops()->boxed);
    small.RunTask(&context);
    CHECK(seen == 6);

    // A capture larger than 48 bytes is boxed and still runs.
    Blob<64> big{};
    big.bytes[63] = 9;
    Envelope large;
    large.EmplaceTask(kTarget, [&seen, big](void* ctx) {
      seen = *static_cast<int*>(ctx) + big.bytes[63];
    });
    CHECK(large.is_task());
    CHECK(large.ops()->boxed);
    Envelope moved = std::move(large);
    moved.RunTask(&context);
    CHECK(seen == 14);
  }

  TEST_CASE("a payload of 48 bytes is sent without any heap allocation") {
    Counters().Reset();
    const int64_t before = Allocations();
    {
      Envelope a;
      a.Emplace<Inline48>(kTarget, 1);
      Envelope b(std::move(a));
      Envelope c;
      c = std::move(b);
      c.Reset();
      c.Emplace<Blob<48>>(kTarget);
      c.Reset();
    }
    const int64_t after = Allocations();
    CHECK(after - before == 0);
    CheckAllDestroyedOnce();
  }

  TEST_CASE("a payload of 49 bytes costs exactly one allocation") {
    const int64_t before = Allocations();
    {
      Envelope a;
      a.Emplace<Blob<49>>(kTarget);
      Envelope b(std::move(a));
      Envelope c;
      c = std::move(b);
      c.Reset();
    }
    const int64_t after = Allocations();
    CHECK(after - before == 1);
  }

  TEST_CASE("Reset destroys the payload exactly once and empties the "
            "envelope") {
    Counters().Reset();
    Envelope a = Envelope::Make<Inline48>(kTarget, 1);
    Envelope b = Envelope::Make<Boxed64>(kTarget, 2);
    a.Reset();
    b.Reset();
    CHECK(a.empty());
    CHECK(b.empty());
    CHECK(Counters().destroyed == 2 + Counters().moved);
    a.Reset();  // resetting an empty envelope does nothing
    b.Reset();
    CheckAllDestroyedOnce();
  }

  TEST_CASE("move-assigning over a full envelope destroys the old payload "
            "once") {
    Counters().Reset();
    {
      Envelope a = Envelope::Make<Inline48>(kTarget, 1);
      Envelope b = Envelope::Make<Boxed64>(kTarget, 2);
      a = std::move(b);
      CHECK(Counters().live() == 1);
      CHECK(a.As<Boxed64>()->value == 2);
      Envelope c = Envelope::Make<Inline48>(kTarget, 3);
      a = std::move(c);
      CHECK(Counters().live() == 1);
      CHECK(a.As<Inline48>()->value == 3);
    }
    CheckAllDestroyedOnce();
  }
}

TEST_SUITE("EnvelopeQueue") {
  TEST_CASE("an envelope queue keeps FIFO order across growth and destroys "
            "each payload once on pop, Clear and destruction") {
    Counters().Reset();
    {
      EnvelopeQueue q;
      for (uint64_t i = 0; i < 100; ++i) {  // grows 16 -> 32 -> 64 -> 128
        if (i % 2 == 0) {
          q.Emplace<Inline48>(kTarget, i);
        } else {
          q.Push(Envelope::Make<Boxed64>(kTarget, i));
        }
      }
      CHECK(q.size() == 100);
      for (uint64_t i = 0; i < 30; ++i) {
        Envelope& front = q.Front();
        const uint64_t v = i % 2 == 0 ? front.As<Inline48>()->value
                                      : front.As<Boxed64>()->value;
        CHECK(v == i);
        q.PopFront();
      }
      Envelope taken = q.TakeFront();
      CHECK(taken.As<Inline48>()->value == 30);
      CHECK(Counters().live() == 70);
      // Wrap the head around the array, then grow again while wrapped.
      for (uint64_t i = 100; i < 200; ++i) q.Emplace<Inline48>(kTarget, i);
      for (uint64_t i = 31; i < 200; ++i) {
        Envelope& front = q.Front();
        const uint64_t v = front.Is<Boxed64>() ? front.As<Boxed64>()->value
                                               : front.As<Inline48>()->value;
        CHECK(v == i);
        q.PopFront();
      }
      CHECK(q.empty());
      for (uint64_t i = 0; i < 40; ++i) q.Emplace<Inline48>(kTarget, i);
      q.Clear();
      CHECK(q.empty());
      CHECK(Counters().live() == 1);  // `taken`
      for (uint64_t i = 0; i < 40; ++i) q.Emplace<Boxed64>(kTarget, i);
      // q is destroyed with 40 payloads still inside.
    }
    CheckAllDestroyedOnce();
  }

  TEST_CASE("a steady-state envelope queue allocates nothing") {
    EnvelopeQueue q;
    for (uint64_t i = 0; i < 64; ++i) q.Emplace<Blob<48>>(kTarget);
    q.Clear();
    const int64_t before = Allocations();
    for (int round = 0; round < 10; ++round) {
      for (uint64_t i = 0; i < 64; ++i) q.Emplace<Blob<48>>(kTarget);
      while (!q.empty()) q.PopFront();
    }
    CHECK(Allocations() - before == 0);
  }

  // Regression: EnvelopeQueue's defaulted move constructor and move
  // assignment move `slots_` (leaving it null) but copy head_, tail_ and
  // capacity_, so a moved-from non-empty queue still reports its old size;
  // its destructor then calls Clear(), which dereferences the null array.
  // The moved-from queue lives in raw storage here so that, while the bug
  // is present, the test fails on the CHECK instead of crashing.
  TEST_CASE("a moved-from envelope queue is empty and safe to destroy") {
    Counters().Reset();
    {
      alignas(EnvelopeQueue) unsigned char storage[sizeof(EnvelopeQueue)];
      auto* source = ::new (storage) EnvelopeQueue();
      for (uint64_t i = 0; i < 3; ++i) source->Emplace<Inline48>(kTarget, i);
      EnvelopeQueue moved(std::move(*source));
      CHECK(moved.size() == 3);
      const bool source_empty = source->empty();
      CHECK(source_empty);
      CHECK(source->size() == 0);
      if (source_empty) source->~EnvelopeQueue();

      ::new (storage) EnvelopeQueue();
      for (uint64_t i = 0; i < 2; ++i) source->Emplace<Inline48>(kTarget, i);
      EnvelopeQueue assigned;
      assigned = std::move(*source);
      CHECK(assigned.size() == 2);
      const bool assigned_source_empty = source->empty();
      CHECK(assigned_source_empty);
      if (assigned_source_empty) source->~EnvelopeQueue();
    }
    CheckAllDestroyedOnce();
  }
}

TEST_SUITE("Envelope destruction through lanes and the mailbox") {
  Envelope MakeTracked(uint64_t i) {
    return i % 2 == 0 ? Envelope::Make<Inline48>(kTarget, i)
                      : Envelope::Make<Boxed64>(kTarget, i);
  }

  TEST_CASE("a lane destroys each payload once when consumed, whether the "
            "consumer leaves it or moves it out") {
    Counters().Reset();
    {
      Lane lane(64);
      EnvelopeQueue queue;
      for (uint64_t i = 0; i < 20; ++i) queue.Push(MakeTracked(i));
      REQUIRE(lane.Publish(queue) == 20);
      CHECK(queue.empty());
      EnvelopeQueue kept;
      uint64_t expected = 0;
      auto fn = [&](Envelope& e) {
        const uint64_t v = e.Is<Inline48>() ? e.As<Inline48>()->value
                                            : e.As<Boxed64>()->value;
        CHECK(v == expected);
        if (expected % 4 == 0) kept.Push(std::move(e));  // moved out
        ++expected;
      };
      CHECK(lane.Consume(256, fn) == 20);
      CHECK(Counters().live() == 5);  // the ones kept
    }
    CheckAllDestroyedOnce();
  }

  TEST_CASE("a lane destroyed with messages inside, after wrapping, "
            "destroys each once") {
    Counters().Reset();
    {
      Lane lane(8);
      EnvelopeQueue queue;
      auto drop = [](Envelope&) {};
      // Go around the lane a few times first, in uneven batches.
      for (uint64_t lap = 0; lap < 7; ++lap) {
        for (uint64_t i = 0; i < 5; ++i) queue.Push(MakeTracked(i));
        REQUIRE(lane.Publish(queue) == 5);
        lane.Consume(256, drop);
      }
      for (uint64_t i = 0; i < 6; ++i) queue.Push(MakeTracked(i));
      REQUIRE(lane.Publish(queue) == 6);
      CHECK(lane.Consume(2, drop) == 2);  // a partial consume
      CHECK(Counters().live() == 4);
    }
    CheckAllDestroyedOnce();
  }

  TEST_CASE("a mailbox destroyed with messages in several lanes and its "
            "foreign queue destroys each once") {
    Counters().Reset();
    {
      MailboxOptions options;
      options.lane_capacity = 16;
      options.senders = 3;
      auto mailbox = Mailbox::Create(options);
      REQUIRE(mailbox.ok());
      {
        std::unique_ptr<Outbox> outboxes[3];
        for (size_t s = 0; s < 3; ++s) {
          outboxes[s] = std::make_unique<Outbox>(mailbox->get(), s, 1000);
        }
        // Wrap lanes 0 and 2 (lane 1 is never made), then leave messages
        // in them, in the outboxes and in the foreign queue.
        for (uint64_t lap = 0; lap < 3; ++lap) {
          for (uint64_t i = 0; i < 11; ++i) {
            REQUIRE(outboxes[0]->Push(MakeTracked(i)).ok());
            REQUIRE(outboxes[2]->Push(MakeTracked(i)).ok());
          }
          REQUIRE(outboxes[0]->Flush());
          REQUIRE(outboxes[2]->Flush());
          while ((*mailbox)->Drain([](Envelope&) {}) > 0) {
          }
        }
        CHECK(Counters().live() == 0);
        for (uint64_t i = 0; i < 25; ++i) {
          REQUIRE(outboxes[0]->Push(MakeTracked(i)).ok());
          if (i < 9) REQUIRE(outboxes[2]->Push(MakeTracked(i)).ok());
          REQUIRE((*mailbox)->PushForeign(MakeTracked(i)).ok());
        }
        CHECK_FALSE(outboxes[0]->Flush());  // 16 of 25 fit
        CHECK(outboxes[0]->size() == 9);
        CHECK(outboxes[2]->Flush());
        CHECK(Counters().live() == 25 + 9 + 25);
      }  // the outboxes' backlogs go first
      CHECK(Counters().live() == 16 + 9 + 25);
      // The mailbox is destroyed with 16 + 9 in its lanes and 25 foreign.
    }
    CheckAllDestroyedOnce();
  }

  TEST_CASE("an outbox destroyed with a backlog destroys each payload once") {
    Counters().Reset();
    {
      MailboxOptions options;
      options.lane_capacity = 32;
      auto mailbox = Mailbox::Create(options);
      REQUIRE(mailbox.ok());
      {
        Outbox outbox(mailbox->get(), 0, 1000);
        for (uint64_t i = 0; i < 100; ++i) {
          Envelope e = i % 3 == 0 ? Envelope::Make<Boxed64>(kTarget, i)
                                  : Envelope::Make<Inline48>(kTarget, i);
          REQUIRE(outbox.Push(std::move(e)).ok());
        }
        CHECK_FALSE(outbox.Flush());
        CHECK(outbox.size() == 100 - 32);
      }
      CHECK(Counters().live() == 32);  // the lane's
      size_t drained = (*mailbox)->Drain([](Envelope&) {});
      CHECK(drained == 32);
      CHECK(Counters().live() == 0);
    }
    CheckAllDestroyedOnce();
  }
}

}  // namespace
}  // namespace actnet
