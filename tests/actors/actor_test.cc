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
#include "actors/actor_table.h"
#include "actors/actor_ref.h"
#include "actors/envelope.h"
#include "actors/mailbox.h"
#include "doctest/doctest.h"
#include "tests/testing/tracked.h"

namespace actnet {
namespace {

using internal::ActorTable;
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

// Registers a new Recorder (the table owns it) and returns it with its ref.
std::pair<Recorder*, ActorRef> Add(ActorTable& table) {
  auto owned = std::make_unique<Recorder>();
  Recorder* raw = owned.get();
  const ActorRef ref = table.Register(std::move(owned));
  return {raw, ref};
}

TEST_SUITE("ActorTable") {
  TEST_CASE("register, resolve and unregister") {
    ActorTable table(3);
    auto [a, ra] = Add(table);
    auto [b, rb] = Add(table);
    CHECK(table.size() == 2);
    CHECK(table.loop_index() == 3);
    CHECK(ra.loop == 3);
    CHECK(ra.valid());
    CHECK(rb.valid());
    CHECK(ra != rb);
    CHECK(a->self() == ra);
    CHECK(table.Resolve(ra.target()) == a);
    CHECK(table.Resolve(rb.target()) == b);
    CHECK(table.Resolve(MessageTarget{99, 1}) == nullptr);  // no such slot

    Envelope m = To(ra, 42);
    CHECK(table.Deliver(m));
    CHECK(a->received == std::vector<uint64_t>{42});
    CHECK(b->received.empty());

    std::unique_ptr<Actor> gone = table.Unregister(ra);
    CHECK(gone.get() == a);  // handed back to the caller
    CHECK(table.size() == 1);
    CHECK(table.Resolve(ra.target()) == nullptr);
    CHECK_FALSE(a->self().valid());
    CHECK(table.Resolve(rb.target()) == b);
    CHECK(table.Unregister(ra) == nullptr);  // twice: ignored
    CHECK(table.size() == 1);
    CHECK(table.dead_letters() == 0);
    CHECK(table.LiveRefs() == std::vector<ActorRef>{rb});
  }

  TEST_CASE("a message to a dead actor is a counted dead letter") {
    ActorTable table(0);
    auto [a, ra] = Add(table);
    std::unique_ptr<Actor> dead = table.Unregister(ra);
    Envelope m = To(ra, 1);
    CHECK_FALSE(table.Deliver(m));
    CHECK(table.dead_letters() == 1);
    CHECK(a->received.empty());
  }

  TEST_CASE("a message to a recycled slot is a dead letter, not delivered "
            "to the slot's new actor") {
    ActorTable table(0);
    auto [old_actor, old_ref] = Add(table);
    std::unique_ptr<Actor> dead = table.Unregister(old_ref);
    auto [new_actor, new_ref] = Add(table);
    REQUIRE(new_ref.slot == old_ref.slot);  // the slot was reused
    CHECK(new_ref.generation != old_ref.generation);
    CHECK(new_ref != old_ref);

    Envelope stale = To(old_ref, 7);
    CHECK_FALSE(table.Deliver(stale));
    CHECK(table.dead_letters() == 1);
    CHECK(new_actor->received.empty());
    CHECK(old_actor->received.empty());

    Envelope fresh = To(new_ref, 8);
    CHECK(table.Deliver(fresh));
    CHECK(new_actor->received == std::vector<uint64_t>{8});
    CHECK(table.dead_letters() == 1);
  }

  TEST_CASE("generations are never 0 and a slot never repeats one") {
    ActorTable table(0);
    uint32_t last[4] = {0, 0, 0, 0};
    for (int cycle = 0; cycle < 100000; ++cycle) {
      ActorRef refs[4];
      for (int i = 0; i < 4; ++i) refs[i] = Add(table).second;
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
      auto [dead, dead_ref] = Add(table);
      auto [live, live_ref] = Add(table);
      live->keep = true;  // the live actor moves half of its payloads out
      std::unique_ptr<Actor> dead_owned = table.Unregister(dead_ref);
      Outbox outbox(&mailbox, 0, 1000);
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
      CHECK(dead->received.empty());
      CHECK(live->received == std::vector<uint64_t>{1, 3, 5, 7, 9, 101, 103,
                                                   105, 107, 109});
      CHECK(Counters().live() == 10);  // only what the live actor kept
    }
    CHECK(Counters().live() == 0);
    CHECK(Counters().double_destroyed == 0);
  }
}

}  // namespace
}  // namespace actnet
