// The actor API of issue 19, part three: death watch. A watcher hears
// Terminated{ref, reason} for each way an actor dies: a connection closing
// (with its CloseReason, over real TCP), a user actor despawned, its loop
// stopping; kNotFound for one already dead; nothing after Unwatch; and a
// watcher that dies withdraws its watches. Watchers sit on the target's
// loop and on the other one.
//
// Ordering: Watch registers on the target's loop through the watcher
// loop's lane to it, so Fence(watcher loop, target loop) proves the watch
// is in place; a Terminated travels the target loop's lane back, so
// Fence(target loop, watcher loop) after a death proves it was delivered
// (or, for the tests that expect none, that none was sent).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/actor_api_testing.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

using Reason = Terminated::Reason;

const char* ReasonName(Reason r) {
  switch (r) {
    case Reason::kClosed:
      return "closed";
    case Reason::kDespawned:
      return "despawned";
    case Reason::kLoopStopped:
      return "loop-stopped";
    case Reason::kNotFound:
      return "not-found";
  }
  return "?";
}

// What a watcher heard, kept outside it (it may die first).
struct Heard {
  std::mutex mu;
  std::vector<Terminated> notices;
  std::vector<int> loops;  // where each was received

  void Add(const Terminated& t) {
    std::lock_guard<std::mutex> lock(mu);
    notices.push_back(t);
    loops.push_back(CurrentLoop());
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return notices.size();
  }
  std::vector<Terminated> All() {
    std::lock_guard<std::mutex> lock(mu);
    return notices;
  }
  bool WaitSize(size_t n) {
    return WaitFor([&] { return size() >= n; }, Slack(seconds(10)));
  }
};

class Watcher : public Receives<Terminated> {
 public:
  explicit Watcher(Heard* heard) : heard_(heard) {}
  void On(Terminated& t) override { heard_->Add(t); }

 private:
  Heard* heard_;
};

// Watch / Unwatch on the watcher's loop; the status they returned.
absl::Status WatchFrom(Engine& engine, const ActorRef& watcher,
                       const ActorRef& target) {
  return OnLoop(engine, watcher.loop, [&](EventLoop& l) {
    return l.engine().Watch(watcher, target);
  });
}
absl::Status UnwatchFrom(Engine& engine, const ActorRef& watcher,
                         const ActorRef& target) {
  return OnLoop(engine, watcher.loop, [&](EventLoop& l) {
    return l.engine().Unwatch(watcher, target);
  });
}

// A watch in place: made, and registered on the target's loop.
void WatchAndFence(Engine& engine, const ActorRef& watcher,
                   const ActorRef& target) {
  REQUIRE(WatchFrom(engine, watcher, target).ok());
  Fence(engine, watcher.loop, target.loop);
}

// After a death on loop `from` (of two): what it sent its own loop and
// then the other has been delivered.
void FenceFrom(Engine& engine, uint32_t from) {
  Fence(engine, from, from);
  Fence(engine, from, 1 - from);
}

struct Quit {};

// Despawns itself on Quit, the way an actor ends its own life.
class Target : public Receives<Terminated, Quit> {
 public:
  explicit Target(Lifetimes* lifetimes) : token_(lifetimes) {}
  void On(Terminated&) override {}
  void On(Quit&) override { loop().Despawn(self()); }

 private:
  Lifetimes::Token token_;
};

// EventLoop::Despawn on the actor's loop, given a copy of its ref.
void DespawnOn(Engine& engine, const ActorRef& ref) {
  OnLoop(engine, ref.loop, [ref](EventLoop& l) { l.Despawn(ref); });
}

// A target on loop 1 and three watches of it in place: `near` (loop 1) and
// `far` (loop 0) report to `watchers`, `keeps` (loop 0) to `control`.
struct ThreeWatchers {
  ThreeWatchers(Engine& engine, Lifetimes* lifetimes, Heard* watchers,
                Heard* control)
      : target(SpawnOn<Target>(engine, 1, lifetimes)),
        near(SpawnOn<Watcher>(engine, 1, watchers)),
        far(SpawnOn<Watcher>(engine, 0, watchers)),
        keeps(SpawnOn<Watcher>(engine, 0, control)) {
    for (const ActorRef& w : {near.get(), far.get(), keeps.get()}) {
      WatchAndFence(engine, w, target);
    }
  }
  Ref<Target> target;
  Ref<Watcher> near;
  Ref<Watcher> far;
  Ref<Watcher> keeps;
};

TEST_SUITE("Watch") {
  TEST_CASE("watchers on both loops hear kClosed with the connection's CloseReason") {
    const FdLeakCheck fds;
    ConnLog log;
    RunningEngine engine(&log, HandlersOf<LoggedEcho>(&log));
    for (int how = 0; how < 3; ++how) {
      CAPTURE(how);
      auto [client, conn] = engine.ConnectClient();
      Heard heard;
      const Ref<Watcher> near = SpawnOn<Watcher>(engine, conn.loop, &heard);
      const Ref<Watcher> far = SpawnOn<Watcher>(engine, 1 - conn.loop, &heard);
      WatchAndFence(engine, near, conn);
      WatchAndFence(engine, far, conn);
      if (how == 0) {
        client.Close();  // FIN: kPeerClosed
      } else if (how == 1) {
        REQUIRE(engine.Close(conn).ok());  // kLocal, after the client's FIN
        std::string rest;
        CHECK(client.RecvUntilEof(&rest, testing::After(seconds(10))));
        client.Close();
      } else {
        client.ResetClose();  // RST: kError
      }
      REQUIRE(log.WaitCloses(how + 1));
      FenceFrom(engine, conn.loop);
      const CloseReason why = log.reasons().back();
      const std::vector<Terminated> got = heard.All();
      REQUIRE(got.size() == 2);
      for (const Terminated& t : got) {
        CHECK(t.ref == conn);
        CHECK(ReasonName(t.reason) == std::string("closed"));
        CHECK(t.close.kind == why.kind);
        CHECK(t.close.error == why.error);
      }
      const CloseReason::Kind want[] = {CloseReason::Kind::kPeerClosed,
                                        CloseReason::Kind::kLocal,
                                        CloseReason::Kind::kError};
      CHECK(why.kind == want[how]);
    }
  }

  // Three ways to despawn a user actor, three Terminated{kDespawned}: the
  // loop passes the same ref to the watch table whichever way it came.
  // Engine::Close and Despawn(self()) from inside hand it the actor's own
  // self() by reference, which the unregistration clears on the way.
  TEST_CASE("watchers on both loops hear kDespawned, however the actor was despawned") {
    Lifetimes lifetimes;
    Heard heard;
    RunningEngine engine;
    const Ref<Target> target = SpawnOn<Target>(engine, 1, &lifetimes);
    const Ref<Watcher> near = SpawnOn<Watcher>(engine, 1, &heard);
    const Ref<Watcher> far = SpawnOn<Watcher>(engine, 0, &heard);
    WatchAndFence(engine, near, target);
    WatchAndFence(engine, far, target);
    SUBCASE("EventLoop::Despawn with a copy of its ref") {
      DespawnOn(engine, target);
    }
    SUBCASE("Engine::Close(ref, done)") {
      REQUIRE(CloseAndWait(engine, target).status.ok());
    }
    SUBCASE("Engine::Close(ref)") {
      REQUIRE(engine.Close(target).ok());
    }
    SUBCASE("the actor despawning itself: loop().Despawn(self())") {
      REQUIRE(engine.Tell(target, Quit{}).ok());
    }
    REQUIRE(WaitFor([&] { return lifetimes.live() == 0; }, Slack(seconds(10))));
    FenceFrom(engine, 1);
    const std::vector<Terminated> got = heard.All();
    CHECK(got.size() == 2);
    for (const Terminated& t : got) {
      CHECK(t.ref == target.get());
      CHECK(ReasonName(t.reason) == std::string("despawned"));
    }
  }

  // Only a watcher that is still alive can hear of a loop stopping: one on
  // the target's own loop dies in the same step, and one whose loop has
  // stopped first is gone too. So the watcher's loop is held (LoopBlocker)
  // until the target's loop has exited (its actors destroyed), and then
  // hears the notice before it stops in turn.
  TEST_CASE("a watcher on a loop still running hears kLoopStopped when its target's loop stops") {
    Lifetimes lifetimes;
    Heard heard;
    RunningEngine engine(SeparateLoops(2));
    const Ref<Target> target = SpawnOn<Target>(engine, 1, &lifetimes);
    const Ref<Watcher> watcher = SpawnOn<Watcher>(engine, 0, &heard);
    WatchAndFence(engine, watcher, target);
    {
      LoopBlocker hold(engine, 0);
      REQUIRE(hold.blocking());
      engine.Stop();
      REQUIRE(WaitFor([&] { return lifetimes.live() == 0; }, Slack(seconds(10))));
      CHECK(heard.size() == 0);
      hold.Release();
    }
    REQUIRE(WaitWithin(engine, seconds(10)));
    const std::vector<Terminated> got = heard.All();
    REQUIRE(got.size() == 1);
    CHECK(got[0].ref == target.get());
    CHECK(ReasonName(got[0].reason) == std::string("loop-stopped"));
    CHECK(heard.loops[0] == 0);
  }

  TEST_CASE("watching an actor that is already dead says kNotFound at once") {
    Lifetimes lifetimes;
    Heard heard;
    RunningEngine engine;
    const Ref<Target> near = SpawnOn<Target>(engine, 0, &lifetimes);
    const Ref<Target> far = SpawnOn<Target>(engine, 1, &lifetimes);
    const Ref<Watcher> watcher = SpawnOn<Watcher>(engine, 0, &heard);
    REQUIRE(CloseAndWait(engine, near).status.ok());
    REQUIRE(CloseAndWait(engine, far).status.ok());

    REQUIRE(WatchFrom(engine, watcher, near).ok());
    Fence(engine, 0, 0);
    REQUIRE(heard.size() == 1);
    REQUIRE(WatchFrom(engine, watcher, far).ok());
    Fence(engine, 0, 1);
    Fence(engine, 1, 0);
    const std::vector<Terminated> got = heard.All();
    REQUIRE(got.size() == 2);
    CHECK(got[0].ref == near.get());
    CHECK(got[1].ref == far.get());
    for (const Terminated& t : got) {
      CHECK(ReasonName(t.reason) == std::string("not-found"));
    }
    // Misuse is refused and watches nothing.
    CHECK(engine.Watch(watcher, far).code() ==
          absl::StatusCode::kFailedPrecondition);
    CHECK(WatchFrom(engine, watcher, ActorRef{}).code() ==
          absl::StatusCode::kInvalidArgument);
  }

  TEST_CASE("after Unwatch no Terminated arrives, while a remaining watcher still hears") {
    Lifetimes lifetimes;
    Heard quiet;
    Heard control;
    RunningEngine engine;
    const ThreeWatchers w(engine, &lifetimes, &quiet, &control);
    for (const ActorRef& r : {w.near.get(), w.far.get()}) {
      REQUIRE(UnwatchFrom(engine, r, w.target).ok());
      Fence(engine, r.loop, w.target.get().loop);
    }
    DespawnOn(engine, w.target);
    FenceFrom(engine, 1);
    CHECK(quiet.size() == 0);
    REQUIRE(control.size() == 1);
    CHECK(ReasonName(control.All()[0].reason) == std::string("despawned"));
  }

  TEST_CASE("a watcher that dies withdraws its watches: its target's death sends it nothing") {
    Lifetimes lifetimes;
    Heard gone;
    Heard control;
    RunningEngine engine;
    const ThreeWatchers w(engine, &lifetimes, &gone, &control);
    SUBCASE("the watchers despawned by EventLoop::Despawn") {
      DespawnOn(engine, w.near);
      DespawnOn(engine, w.far);
    }
    SUBCASE("the watchers closed by Engine::Close(ref, done)") {
      REQUIRE(CloseAndWait(engine, w.near).status.ok());
      REQUIRE(CloseAndWait(engine, w.far).status.ok());
    }
    Fence(engine, 0, 1);  // the far watcher's withdrawal reached loop 1
    const uint64_t dead_before = engine.DeadLetters();
    DespawnOn(engine, w.target);
    FenceFrom(engine, 1);
    CHECK(gone.size() == 0);
    CHECK(control.size() == 1);
    // A notice sent to a dead watcher would be a dead letter.
    CHECK(engine.DeadLetters() == dead_before);
  }

  // The watcher's loop remembers what each of its actors watches, so that
  // their deaths withdraw the watches. That record must end when the
  // watched actor dies: a long-lived watcher (a chat room watching its
  // members) would otherwise keep every target it ever watched, and its
  // own death would send a withdrawal per dead target. The withdrawals are
  // tasks on the target's loop, which LoopStats::messages counts.
  TEST_CASE("a long-lived watcher keeps nothing for targets that have died") {
    Lifetimes lifetimes;
    Heard heard;
    RunningEngine engine;
    const int k = static_cast<int>(Scaled(2000, 200));
    const Ref<Watcher> watcher = SpawnOn<Watcher>(engine, 0, &heard);
    const std::vector<ActorRef> targets = OnLoop(engine, 1, [&](EventLoop& l) {
      std::vector<ActorRef> refs;
      for (int i = 0; i < k; ++i) {
        refs.push_back(l.Spawn(std::make_unique<Target>(&lifetimes)));
      }
      return refs;
    });
    const bool all_watched = OnLoop(engine, 0, [&](EventLoop& l) {
      bool ok = true;
      for (const ActorRef& t : targets) ok &= l.engine().Watch(watcher, t).ok();
      return ok;
    });
    REQUIRE(all_watched);
    Fence(engine, 0, 1);
    OnLoop(engine, 1, [&](EventLoop& l) {
      for (const ActorRef& t : targets) l.Despawn(t);
    });
    Fence(engine, 1, 0);
    REQUIRE(heard.size() == static_cast<size_t>(k));

    const uint64_t before = engine.Stats()[1].messages;
    DespawnOn(engine, watcher);
    engine.StopAndWait();
    const uint64_t sent_to_loop1 = engine.Stats()[1].messages - before;
    INFO("messages to loop 1 after the watcher died: ", sent_to_loop1);
    CHECK(sent_to_loop1 < static_cast<uint64_t>(k / 2));
  }
}

// ---------------------------------------------------------------------------
// A connection as the watcher.

struct WatchShared {
  ConnLog log;
  std::mutex mu;
  ActorRef target;
  std::atomic<bool> watching{false};
};

// "watch" from the client watches the shared target; a Terminated is
// written to the client as "terminated:<reason>".
class WatchingConn : public LoggedConnReceives<Terminated> {
 public:
  explicit WatchingConn(WatchShared* s) : LoggedConnReceives(&s->log), s_(s) {}
  Action OnData(Conn& conn) override {
    if (conn.Peek().find('\n') == absl::string_view::npos) return Action::kNone;
    conn.Discard();
    ActorRef target;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      target = s_->target;
    }
    if (!conn.Watch(target).ok()) {
      conn.Write("watch failed\n");
      return Action::kNone;
    }
    // Behind the watch on the target's loop (one lane, in order).
    std::atomic<bool>* watching = &s_->watching;
    (void)conn.loop().engine().Post(
        target.loop, [watching](EventLoop&) { watching->store(true); });
    return Action::kNone;
  }
  Action On(Conn& conn, Terminated& t) override {
    conn.Write(std::string("terminated:") + ReasonName(t.reason) + "\n");
    return Action::kNone;
  }

 private:
  WatchShared* s_;
};

TEST_CASE("a connection watching an actor tells its client when the actor is despawned") {
  const FdLeakCheck fds;
  WatchShared shared;
  Lifetimes lifetimes;
  RunningEngine engine(&shared.log, HandlersOf<WatchingConn>(&shared));
  auto [client, conn] = engine.ConnectClient();
  const Ref<Target> target = SpawnOn<Target>(engine, 1 - conn.loop, &lifetimes);
  {
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.target = target;
  }
  REQUIRE(client.SendAll("watch\n", testing::After(seconds(10))));
  REQUIRE(WaitFor([&] { return shared.watching.load(); }, Slack(seconds(10))));
  DespawnOn(engine, target);
  CHECK(ReadExpected(client, "terminated:despawned\n"));
}

}  // namespace
}  // namespace actnet::integration
