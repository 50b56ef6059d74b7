// The actor API of issue 19, part one: typed actors and handlers
// (Receives<Ms...>, ConnReceives<Ms...>, Ref<A>), unhandled messages
// (counted apart from dead letters), Tell to a dead actor, Spawn from a
// foreign thread and Close(ref, done) of connections and user actors. Real
// engines with two loops, real TCP clients over loopback.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/actor_api_testing.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

struct Join {
  std::string who;
};
struct Leave {
  std::string who;
};
struct Line {
  std::string text;
};
struct Count {
  using Reply = int;
};

// Logs each message it gets, by type.
class Room : public Receives<Join, Leave, Line, Count> {
 public:
  explicit Room(Events* events, Lifetimes* lifetimes = nullptr)
      : events_(events),
        token_(lifetimes ? std::make_unique<Lifetimes::Token>(lifetimes)
                         : nullptr) {}
  void On(Join& j) override { Log("join:" + j.who); }
  void On(Leave& l) override { Log("leave:" + l.who); }
  void On(Line& l) override { Log("line:" + l.text); }
  void On(Count&, Promise<int> reply) override {
    Log(reply.pending() ? "count:asked" : "count:told");
  }
  void Unhandled(Envelope& message) override {
    Log(message.Is<double>() ? "unhandled:double" : "unhandled:other");
  }

 private:
  void Log(std::string e) {
    events_->Add(e + "@" + std::to_string(CurrentLoop()));
  }
  Events* events_;
  std::unique_ptr<Lifetimes::Token> token_;
};

// Forwards a Line to a room through Actor::Tell (typed), from its loop;
// logs the status.
struct Forward {
  Ref<Room> to;
  std::string text;
};
class Forwarder : public Receives<Forward> {
 public:
  explicit Forwarder(Events* events) : events_(events) {}
  void On(Forward& f) override {
    events_->Add("sent:" + StatusName(Tell(f.to, Line{f.text})));
  }

 private:
  Events* events_;
};

TEST_SUITE("Receives") {
  TEST_CASE("a typed actor gets each listed type in its own On, in the order sent") {
    const FdLeakCheck fds;
    Events events;
    RunningEngine engine;
    Ref<Room> room = SpawnOn<Room>(engine, 1, &events);
    REQUIRE(engine.Tell(room, Join{"ann"}).ok());
    REQUIRE(engine.Tell(room, Line{"hi"}).ok());
    REQUIRE(engine.Tell<Join>(room, std::string("bob")).ok());
    REQUIRE(engine.Tell(room, Leave{"ann"}).ok());
    // A request type told without Ask arrives with an empty promise.
    REQUIRE(engine.Tell(room, Count{}).ok());
    REQUIRE(events.WaitSize(5));
    CHECK(events.All() == std::vector<std::string>{"join:ann@1", "line:hi@1",
                                                   "join:bob@1", "leave:ann@1",
                                                   "count:told@1"});

    // From an actor on the other loop, through Actor::Tell(Ref<A>, M).
    Ref<Forwarder> fwd = SpawnOn<Forwarder>(engine, 0, &events);
    REQUIRE(engine.Tell(fwd, Forward{room, "relayed"}).ok());
    REQUIRE(events.WaitSize(7));
    CHECK(events.Count("sent:OK") == 1);
    CHECK(events.Count("line:relayed@1") == 1);

    CHECK(engine.Unhandled() == 0);
    CHECK(engine.DeadLetters() == 0);
  }

  TEST_CASE("a message of a type the actor does not list is unhandled, not a dead letter") {
    Events events;
    Lifetimes lifetimes;
    RunningEngine engine;
    Ref<Room> room = SpawnOn<Room>(engine, 1, &events, &lifetimes);
    // The dynamic Tell compiles for any type; the typed one would not.
    REQUIRE(engine.Tell<double>(room.get(), 3.14).ok());
    REQUIRE(engine.Tell<int>(room.get(), 7).ok());
    REQUIRE(engine.Tell(room, Line{"after"}).ok());
    REQUIRE(events.WaitSize(3));
    CHECK(events.All() == std::vector<std::string>{"unhandled:double@1",
                                                   "unhandled:other@1",
                                                   "line:after@1"});
    CHECK(engine.Unhandled() == 2);
    std::vector<LoopStats> stats = engine.Stats();
    REQUIRE(stats.size() == 2);
    CHECK(stats[0].unhandled == 0);
    CHECK(stats[1].unhandled == 2);
    CHECK(engine.DeadLetters() == 0);

    // A dead letter is not unhandled either.
    CHECK(CloseAndWait(engine, room).status.ok());
    REQUIRE(WaitFor([&] { return lifetimes.live() == 0; }));
    REQUIRE(engine.Tell<double>(room.get(), 1.0).ok());
    REQUIRE(WaitFor([&] { return engine.DeadLetters() == 1; }));
    CHECK(engine.Unhandled() == 2);
  }
}

// A burst from one loop to another, more than a lane holds, in one turn:
// small messages are built in the lane's slots while it has room, a boxed
// one (too large to travel inline) every 97th goes through an envelope, and
// once the lane is full both queue in the outbox. All arrive, in order.
struct Num {
  int64_t seq;
};
struct BigNum {
  int64_t seq;
  char pad[120];
};
static_assert(kFitsInline<Num> && !kFitsInline<BigNum>);

class InOrder : public Receives<Num, BigNum> {
 public:
  explicit InOrder(std::atomic<int64_t>* received, std::atomic<int64_t>* bad)
      : received_(received), bad_(bad) {}
  void On(Num& n) override { Check(n.seq); }
  void On(BigNum& n) override { Check(n.seq); }

 private:
  void Check(int64_t seq) {
    if (seq != next_++) bad_->fetch_add(1, std::memory_order_relaxed);
    received_->fetch_add(1, std::memory_order_release);
  }
  int64_t next_ = 0;
  std::atomic<int64_t>* received_;
  std::atomic<int64_t>* bad_;
};

struct Burst {
  Ref<InOrder> to;
  int64_t count;
};
class Burster : public Receives<Burst> {
 public:
  explicit Burster(std::atomic<int64_t>* refused) : refused_(refused) {}
  void On(Burst& b) override {
    for (int64_t i = 0; i < b.count; ++i) {
      const absl::Status s =
          i % 97 == 0 ? Tell(b.to, BigNum{i, {}}) : Tell(b.to, Num{i});
      if (!s.ok()) refused_->fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  std::atomic<int64_t>* refused_;
};

TEST_SUITE("Tell between loops") {
  TEST_CASE("a burst larger than the lane, small and boxed messages mixed, "
            "arrives whole and in order") {
    std::atomic<int64_t> received{0}, bad{0}, refused{0};
    EngineOptions options = Loops(2);
    options.mailbox_capacity = 64;  // the lane fills many times over
    RunningEngine engine(options);
    Ref<InOrder> seq = SpawnOn<InOrder>(engine, 1, &received, &bad);
    Ref<Burster> burster = SpawnOn<Burster>(engine, 0, &refused);
    constexpr int64_t kCount = 5000;
    REQUIRE(engine.Tell(burster, Burst{seq, kCount}).ok());
    REQUIRE(WaitFor([&] {
      return received.load(std::memory_order_acquire) == kCount;
    }));
    CHECK(bad.load() == 0);
    CHECK(refused.load() == 0);
    CHECK(engine.DeadLetters() == 0);
    CHECK(engine.Unhandled() == 0);
  }
}

// ---------------------------------------------------------------------------
// Typed and plain connection handlers.

struct Shout {
  std::string text;
};

// Writes what it is told to its client: "shout:<text>", "count:<told or
// asked>", "unhandled".
class TypedConn : public LoggedConnReceives<Shout, Count> {
 public:
  using LoggedConnReceives::LoggedConnReceives;
  Action On(Conn& conn, Shout& s) override {
    conn.Write("shout:" + s.text + "\n");
    return Action::kNone;
  }
  Action On(Conn& conn, Count&, Promise<int> reply) override {
    conn.Write(reply.pending() ? "count:asked\n" : "count:told\n");
    return Action::kNone;
  }
  Action Unhandled(Conn& conn, Envelope& message) override {
    conn.Write("unhandled\n");
    return Action::kNone;
  }
};

TEST_SUITE("ConnReceives") {
  TEST_CASE("a typed handler dispatches by type and counts the rest as unhandled") {
    const FdLeakCheck fds;
    ConnLog log;
    RunningEngine engine(&log, HandlersOf<TypedConn>(&log));
    auto [client, ref] = engine.ConnectClient();
    const Ref<TypedConn> conn(ref);

    REQUIRE(engine.Tell(conn, Shout{"hello"}).ok());
    REQUIRE(engine.Tell(conn, Count{}).ok());
    REQUIRE(engine.Tell<double>(conn.get(), 2.5).ok());
    REQUIRE(engine.Tell(conn, Shout{"again"}).ok());
    CHECK(ReadExpected(client, "shout:hello\ncount:told\nunhandled\nshout:again\n"));
    CHECK(engine.Unhandled() == 1);
    CHECK(engine.Stats()[conn.get().loop].unhandled == 1);
    CHECK(engine.Stats()[1 - conn.get().loop].unhandled == 0);
    CHECK(engine.DeadLetters() == 0);
  }

  TEST_CASE("a plain Handler that does not override OnMessage counts what it is told as unhandled") {
    const FdLeakCheck fds;
    ConnLog log;
    RunningEngine engine(&log, HandlersOf<LoggedEcho>(&log));
    std::vector<Client> clients = engine.ConnectClients(2);
    const std::vector<ActorRef> refs = log.opened_refs();
    CHECK(refs[0].loop != refs[1].loop);
    for (const ActorRef& r : refs) {
      REQUIRE(engine.Tell<int>(r, 7).ok());
      REQUIRE(engine.Tell<std::string>(r, "not for echo").ok());
    }
    REQUIRE(WaitFor([&] { return engine.Unhandled() == 4; }));
    for (const LoopStats& s : engine.Stats()) CHECK(s.unhandled == 2);
    CHECK(engine.DeadLetters() == 0);
    // The connections carry on.
    for (Client& c : clients) {
      CHECK(c.RoundTrip("still echoing\n", testing::After(seconds(10))));
    }
    engine.StopAndWait();
    CHECK(engine.Unhandled() == 4);
  }
}

// ---------------------------------------------------------------------------
// Tell to the dead, Spawn and Close from any thread.

TEST_SUITE("Engine") {
  TEST_CASE("a Tell to a dead actor on the calling loop is NotFound; elsewhere it is a dead letter") {
    Events events;
    RunningEngine engine;
    Ref<Room> near = SpawnOn<Room>(engine, 0, &events);
    Ref<Room> far = SpawnOn<Room>(engine, 1, &events);
    Ref<Forwarder> fwd = SpawnOn<Forwarder>(engine, 0, &events);
    REQUIRE(CloseAndWait(engine, near).status.ok());
    REQUIRE(CloseAndWait(engine, far).status.ok());

    const auto codes = OnLoop(engine, 0, [&](EventLoop& l) {
      return std::vector<absl::StatusCode>{
          l.engine().Tell(near, Line{"x"}).code(),
          l.engine().Tell<double>(near.get(), 1.0).code(),
          l.engine()
              .Send(near, Envelope::Make<int>(near.get().target(), 1))
              .code(),
          l.engine().Tell(far, Line{"y"}).code()};
    });
    CHECK(codes[0] == absl::StatusCode::kNotFound);
    CHECK(codes[1] == absl::StatusCode::kNotFound);
    CHECK(codes[2] == absl::StatusCode::kNotFound);
    CHECK(codes[3] == absl::StatusCode::kOk);  // found out on loop 1
    // Actor::Tell from a live actor on the dead one's loop.
    REQUIRE(engine.Tell(fwd, Forward{near, "z"}).ok());
    REQUIRE(events.WaitSize(1));
    CHECK(events.All() == std::vector<std::string>{"sent:NOT_FOUND"});
    // From a thread that is not a loop nothing is known: OK, then counted.
    CHECK(engine.Tell(near, Line{"w"}).ok());
    REQUIRE(WaitFor([&] { return engine.DeadLetters() == 2; }));
    CHECK(engine.Unhandled() == 0);
  }

  TEST_CASE("Spawn from foreign threads runs each callback on the chosen loop with a live ref") {
    Events events;
    RunningEngine engine;
    constexpr int kThreads = 4;
    constexpr int kEach = 16;
    std::mutex mu;
    std::vector<std::pair<int, ActorRef>> spawned;  // (loop wanted, ref)
    std::atomic<int> wrong_loop{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          const uint32_t loop = static_cast<uint32_t>((t + i) % 2);
          const absl::Status s = engine.Spawn(
              loop, std::make_unique<Room>(&events),
              [&, loop](absl::StatusOr<ActorRef> r) {
                if (CurrentLoop() != static_cast<int>(loop)) wrong_loop++;
                if (!r.ok()) {
                  failed++;
                  return;
                }
                std::lock_guard<std::mutex> lock(mu);
                spawned.emplace_back(static_cast<int>(loop), *r);
              });
          if (!s.ok()) failed++;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    REQUIRE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu);
      return spawned.size() + failed.load() == kThreads * kEach;
    }));
    CHECK(failed.load() == 0);
    CHECK(wrong_loop.load() == 0);
    absl::flat_hash_set<ActorRef> distinct;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& [loop, ref] : spawned) {
        CHECK(ref.valid());
        CHECK(static_cast<int>(ref.loop) == loop);
        distinct.insert(ref);
      }
    }
    CHECK(distinct.size() == static_cast<size_t>(kThreads * kEach));
    for (const ActorRef& r : distinct) {
      REQUIRE(engine.Tell(Ref<Room>(r), Line{"hi"}).ok());
    }
    REQUIRE(events.WaitSize(distinct.size()));
    CHECK(events.Count("line:hi@0") + events.Count("line:hi@1") ==
          kThreads * kEach);

    // No such loop; no actor or callback: refused, the callback never runs.
    std::atomic<int> calls{0};
    auto count = [&calls](absl::StatusOr<ActorRef>) { calls++; };
    CHECK(engine.Spawn(2, std::make_unique<Room>(&events), count).code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(engine.Spawn(0, nullptr, count).code() ==
          absl::StatusCode::kInvalidArgument);
    engine.StopAndWait();
    // A stopped loop refuses the spawn and destroys the actor unrun.
    Lifetimes lifetimes;
    CHECK(!engine.Spawn(0, std::make_unique<Room>(&events, &lifetimes), count)
               .ok());
    CHECK(lifetimes.live() == 0);
    CHECK(lifetimes.destroyed() == 1);
    CHECK(calls.load() == 0);
  }

  TEST_CASE("Spawn before Start registers at once and calls back at once") {
    Engine engine(Loops(2));
    Events events;
    std::optional<absl::StatusOr<ActorRef>> got;
    REQUIRE(engine
                .Spawn(1, std::make_unique<Room>(&events),
                       [&got](absl::StatusOr<ActorRef> r) { got = r; })
                .ok());
    REQUIRE(got.has_value());
    REQUIRE(got->ok());
    CHECK((*got)->loop == 1);
    REQUIRE(engine.Start().ok());
    REQUIRE(engine.Tell(Ref<Room>(**got), Join{"early"}).ok());
    REQUIRE(events.WaitSize(1));
    CHECK(events.All()[0] == "join:early@1");
    engine.Stop();
    REQUIRE(WaitWithin(engine, seconds(10)));
  }

  TEST_CASE("Close(ref, done) of a connection flushes, closes, then says OK on its loop") {
    const FdLeakCheck fds;
    ConnLog log;
    RunningEngine engine(&log, HandlersOf<LoggedEcho>(&log));
    auto [client, conn] = engine.ConnectClient();

    REQUIRE(engine.AsyncWrite(conn, "bye\n").ok());
    auto closed = CloseAsync(engine, conn);
    // The queued bytes, then EOF.
    std::string got;
    CHECK(client.RecvUntilEof(&got, testing::After(seconds(10))));
    CHECK(got == "bye\n");
    // The connection lingers for the client's FIN: not gone yet.
    CHECK(!closed->has_value());
    client.Close();
    const std::optional<Closed> c = closed->Wait();
    REQUIRE(c.has_value());
    CHECK(c->status.ok());
    CHECK(c->loop == static_cast<int>(conn.loop));
    REQUIRE(log.closes() == 1);
    CHECK(log.reasons()[0].kind == CloseReason::Kind::kLocal);
    CHECK(engine.CountConnections() == 0);

    // Again, from a thread that is not its loop: NotFound, on its loop.
    const Closed again = CloseAndWait(engine, conn);
    CHECK(again.status.code() == absl::StatusCode::kNotFound);
    CHECK(again.loop == static_cast<int>(conn.loop));
    // Again, from its own loop: refused at once, done never called.
    std::atomic<int> calls{0};
    const absl::StatusCode code = OnLoop(engine, conn.loop, [&](EventLoop& l) {
      return l.engine().Close(conn, [&calls](absl::Status) { calls++; }).code();
    });
    CHECK(code == absl::StatusCode::kNotFound);
    Fence(engine, conn.loop, conn.loop);
    CHECK(calls.load() == 0);
  }

  TEST_CASE("Close(ref, done) despawns a user actor; a dead ref's done hears NotFound") {
    Events events;
    Lifetimes lifetimes;
    RunningEngine engine;
    Ref<Room> room = SpawnOn<Room>(engine, 1, &events, &lifetimes);
    REQUIRE(lifetimes.live() == 1);
    const Closed c = CloseAndWait(engine, room);
    CHECK(c.status.ok());
    CHECK(c.loop == 1);
    REQUIRE(WaitFor([&] { return lifetimes.live() == 0; }));
    CHECK(OnLoop(engine, 1, [&](EventLoop& l) {
            return l.Find(room) == nullptr;
          }));

    const Closed again = CloseAndWait(engine, room);
    CHECK(again.status.code() == absl::StatusCode::kNotFound);
    CHECK(again.loop == 1);
    // Its own loop knows at once; done is never called.
    std::atomic<int> calls{0};
    CHECK(OnLoop(engine, 1, [&](EventLoop& l) {
            return l.engine()
                .Close(room, [&calls](absl::Status) { calls++; })
                .code();
          }) == absl::StatusCode::kNotFound);
    Fence(engine, 1, 1);
    CHECK(calls.load() == 0);
    CHECK(lifetimes.destroyed() == 1);
  }
}

}  // namespace
}  // namespace actnet::integration
