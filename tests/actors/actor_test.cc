// ActorTable and ActorRef: registration, resolution and removal; messages to
// a dead actor and to a recycled slot are counted dead letters, never
// delivered to the slot's new actor; generations are never 0.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/actor.h"
#include "actors/actor_ref.h"
#include "actors/envelope.h"
#include "actors/mailbox.h"
#include "doctest/doctest.h"
#include "tests/testing/tracked.h"

namespace actnet {
namespace {

using testing::Counters;
using testing::Tracked;

// Records every value it receives; keeps the payload if asked to.
class Recorder : public Actor {
 public:
  void Receive(Envelope& message) override {
    if (const auto* v = message.As<uint64_t>()) received.push_back(*v);
    if (const auto* t = message.As<Tracked<48>>()) {
      received.push_back(t->value);
    }
    if (keep) kept.push_back(std::move(message));
  }
  std::vector<uint64_t> received;
  std::vector<Envelope> kept;
  bool keep = false;
};

Envelope To(const ActorRef& ref, uint64_t value) {
  return Envelope::Make<uint64_t>(ref.target(), value);
}

TEST_SUITE("ActorRef") {
  TEST_CASE("a default ref is invalid and refs compare by all three parts") {
    ActorRef none;
    CHECK_FALSE(none.valid());
    ActorRef a{0, 1, 2};
    CHECK(a.valid());
    CHECK(a == ActorRef{0, 1, 2});
    CHECK(a != ActorRef{1, 1, 2});
    CHECK(a != ActorRef{0, 2, 2});
    CHECK(a != ActorRef{0, 1, 3});
    CHECK_FALSE((ActorRef{0, 1, 0}.valid()));  // generation 0 is never live
    CHECK(a.ToString() == "actor(0:1#2)");
    CHECK(a.target().slot == 1);
    CHECK(a.target().generation == 2);
  }
}

TEST_SUITE("ActorTable") {
  TEST_CASE("register, resolve and unregister") {
    ActorTable table(3);
    Recorder a, b;
    const ActorRef ra = table.Register(&a);
    const ActorRef rb = table.Register(&b);
    CHECK(table.size() == 2);
    CHECK(table.loop_index() == 3);
    CHECK(ra.loop == 3);
    CHECK(ra.valid());
    CHECK(rb.valid());
    CHECK(ra != rb);
    CHECK(a.self() == ra);
    CHECK(table.Resolve(ra.target()) == &a);
    CHECK(table.Resolve(rb.target()) == &b);
    CHECK(table.Resolve(MessageTarget{99, 1}) == nullptr);  // no such slot

    Envelope m = To(ra, 42);
    CHECK(table.Deliver(m));
    CHECK(a.received == std::vector<uint64_t>{42});
    CHECK(b.received.empty());

    table.Unregister(ra);
    CHECK(table.size() == 1);
    CHECK(table.Resolve(ra.target()) == nullptr);
    CHECK_FALSE(a.self().valid());
    CHECK(table.Resolve(rb.target()) == &b);
    table.Unregister(ra);  // twice: ignored
    CHECK(table.size() == 1);
    CHECK(table.dead_letters() == 0);
  }

  TEST_CASE("a message to a dead actor is a counted dead letter") {
    ActorTable table(0);
    Recorder a;
    const ActorRef ra = table.Register(&a);
    table.Unregister(ra);
    Envelope m = To(ra, 1);
    CHECK_FALSE(table.Deliver(m));
    CHECK(table.dead_letters() == 1);
    CHECK(a.received.empty());
  }

  TEST_CASE("a message to a recycled slot is a dead letter, not delivered "
            "to the slot's new actor") {
    ActorTable table(0);
    Recorder old_actor, new_actor;
    const ActorRef old_ref = table.Register(&old_actor);
    table.Unregister(old_ref);
    const ActorRef new_ref = table.Register(&new_actor);
    REQUIRE(new_ref.slot == old_ref.slot);  // the slot was reused
    CHECK(new_ref.generation != old_ref.generation);
    CHECK(new_ref != old_ref);

    Envelope stale = To(old_ref, 7);
    CHECK_FALSE(table.Deliver(stale));
    CHECK(table.dead_letters() == 1);
    CHECK(new_actor.received.empty());
    CHECK(old_actor.received.empty());

    Envelope fresh = To(new_ref, 8);
    CHECK(table.Deliver(fresh));
    CHECK(new_actor.received == std::vector<uint64_t>{8});
    CHECK(table.dead_letters() == 1);
  }

  TEST_CASE("generations are never 0 and a slot never repeats one") {
    ActorTable table(0);
    std::vector<Recorder> actors(4);
    uint32_t last[4] = {0, 0, 0, 0};
    for (int cycle = 0; cycle < 100000; ++cycle) {
      ActorRef refs[4];
      for (int i = 0; i < 4; ++i) refs[i] = table.Register(&actors[i]);
      for (int i = 0; i < 4; ++i) {
        const ActorRef& r = refs[i];
        REQUIRE(r.slot < 4);
        REQUIRE(r.generation != 0);
        REQUIRE(r.generation > last[r.slot]);
        last[r.slot] = r.generation;
      }
      for (int i = 0; i < 4; ++i) table.Unregister(refs[(i + cycle) % 4]);
    }
    CHECK(table.size() == 0);
  }

  TEST_CASE("dead letters arriving through a mailbox are counted and their "
            "payloads destroyed exactly once") {
    Counters().Reset();
    {
      auto created = Mailbox::Create(MailboxOptions{});
      REQUIRE(created.ok());
      Mailbox& mailbox = **created;
      ActorTable table(0);
      Recorder live, dead;
      const ActorRef dead_ref = table.Register(&dead);
      const ActorRef live_ref = table.Register(&live);
      live.keep = true;  // the live actor moves half of its payloads out
      table.Unregister(dead_ref);
      Outbox outbox(&mailbox, 1000);
      for (uint64_t i = 0; i < 10; ++i) {
        const ActorRef& to = i % 2 == 0 ? dead_ref : live_ref;
        REQUIRE(outbox.Push(Envelope::Make<Tracked<48>>(to.target(), i)).ok());
        REQUIRE(mailbox
                    .PushForeign(Envelope::Make<Tracked<48>>(to.target(),
                                                             100 + i))
                    .ok());
      }
      REQUIRE(outbox.Flush());
      size_t drained = 0;
      while (mailbox.HasPending()) {
        drained += mailbox.Drain([&](Envelope& e) { table.Deliver(e); });
      }
      CHECK(drained == 20);
      CHECK(table.dead_letters() == 10);
      CHECK(dead.received.empty());
      CHECK(live.received == std::vector<uint64_t>{1, 3, 5, 7, 9, 101, 103,
                                                   105, 107, 109});
      CHECK(Counters().live() == 10);  // only what the live actor kept
    }
    CHECK(Counters().live() == 0);
    CHECK(Counters().double_destroyed == 0);
  }
}

}  // namespace
}  // namespace actnet
