// The actor API of issue 19, part four: the name registry. Register,
// Whereis and Unregister (AlreadyExists, typed names found only as their
// class), an entry gone when its actor dies (registered on its loop, on
// another loop, from a foreign thread; a user actor or a TCP connection),
// a dead ref refused on its loop and dropped elsewhere, and many threads
// and loops registering, looking up and unregistering while actors die
// (run under TSan: the target is tagged "concurrency").
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <random>
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

struct Ping {};
class Room : public Receives<Ping> {
 public:
  void On(Ping&) override {}
};
class Lobby : public Receives<Ping> {
 public:
  void On(Ping&) override {}
};

using absl::StatusCode;

StatusCode WhereisCode(const Engine& engine, const std::string& name) {
  return engine.Whereis(name).status().code();
}

TEST_SUITE("Names") {
  TEST_CASE("Register, Whereis and Unregister a name") {
    RunningEngine engine;
    const Ref<Room> a = SpawnOn<Room>(engine, 0);
    const Ref<Room> b = SpawnOn<Room>(engine, 1);
    CHECK(WhereisCode(engine, "room") == StatusCode::kNotFound);
    REQUIRE(engine.Register("room", a.get()).ok());
    absl::StatusOr<ActorRef> found = engine.Whereis("room");
    REQUIRE(found.ok());
    CHECK(*found == a.get());
    CHECK(engine.Register("room", b.get()).code() == StatusCode::kAlreadyExists);
    CHECK(engine.Register("room", a.get()).ok());  // the same actor again
    CHECK(engine.Register("other", a.get()).ok());  // a second name
    CHECK(engine.Unregister("room").ok());
    CHECK(engine.Unregister("room").code() == StatusCode::kNotFound);
    CHECK(WhereisCode(engine, "room") == StatusCode::kNotFound);
    CHECK(engine.Register("room", b.get()).ok());  // free again
    CHECK(*engine.Whereis("room") == b.get());
    CHECK(*engine.Whereis("other") == a.get());
    CHECK(engine.Register("", a.get()).code() == StatusCode::kInvalidArgument);
    CHECK(engine.Register("x", ActorRef{}).code() == StatusCode::kInvalidArgument);
    CHECK(engine.Register("x", ActorRef{7, 0, 1}).code() ==
          StatusCode::kInvalidArgument);  // no loop 7
  }

  TEST_CASE("a typed name is found only as its own class") {
    RunningEngine engine;
    const Ref<Room> room = SpawnOn<Room>(engine, 1);
    REQUIRE(engine.Register("room", room).ok());
    absl::StatusOr<Ref<Room>> typed = engine.Whereis<Room>("room");
    REQUIRE(typed.ok());
    CHECK(*typed == room);
    CHECK(engine.Whereis<Lobby>("room").status().code() ==
          StatusCode::kFailedPrecondition);
    CHECK(*engine.Whereis("room") == room.get());  // untyped lookups see all
    CHECK(engine.Whereis<Room>("none").status().code() == StatusCode::kNotFound);
    // Registered untyped, it is nobody's class.
    REQUIRE(engine.Register("plain", room.get()).ok());
    CHECK(engine.Whereis<Room>("plain").status().code() ==
          StatusCode::kFailedPrecondition);
  }

  TEST_CASE("a name goes when its actor dies, wherever it was registered from") {
    RunningEngine engine;
    const Ref<Room> room = SpawnOn<Room>(engine, 1);
    // From its own loop, from the other loop, from this thread.
    CHECK(OnLoop(engine, 1, [&](EventLoop& l) {
            return l.engine().Register("on-own-loop", room).ok();
          }));
    CHECK(OnLoop(engine, 0, [&](EventLoop& l) {
            return l.engine().Register("on-other-loop", room).ok();
          }));
    CHECK(engine.Register("from-thread", room).ok());
    const Ref<Room> keep = SpawnOn<Room>(engine, 1);
    REQUIRE(engine.Register("kept", keep).ok());

    SUBCASE("despawned by EventLoop::Despawn") {
      OnLoop(engine, 1, [ref = room.get()](EventLoop& l) { l.Despawn(ref); });
    }
    SUBCASE("closed by Engine::Close(ref, done)") {
      REQUIRE(CloseAndWait(engine, room).status.ok());
    }
    SUBCASE("stopped with its loop") {
      engine.StopAndWait();
    }
    // Forgotten on the actor's loop as it dies, before anything after.
    for (std::string name : {"on-own-loop", "on-other-loop", "from-thread"}) {
      CAPTURE(name);
      CHECK(WhereisCode(engine, name) == StatusCode::kNotFound);
    }
    if (!engine.stopping()) CHECK(*engine.Whereis("kept") == keep.get());
  }

  TEST_CASE("a connection's name goes when it closes") {
    const FdLeakCheck fds;
    ConnLog log;
    RunningEngine engine(&log, HandlersOf<LoggedEcho>(&log));
    auto [client, conn] = engine.ConnectClient();
    REQUIRE(engine.Register("conn", conn).ok());
    REQUIRE(client.RoundTrip("hi\n", testing::After(seconds(10))));
    CHECK(*engine.Whereis("conn") == conn);
    client.Close();
    REQUIRE(log.WaitCloses(1));
    Fence(engine, conn.loop, conn.loop);
    CHECK(WhereisCode(engine, "conn") == StatusCode::kNotFound);
  }

  TEST_CASE("a dead ref is refused on its loop and dropped when registered elsewhere") {
    RunningEngine engine;
    const Ref<Room> room = SpawnOn<Room>(engine, 1);
    OnLoop(engine, 1, [ref = room.get()](EventLoop& l) { l.Despawn(ref); });
    CHECK(OnLoop(engine, 1, [&](EventLoop& l) {
            return l.engine().Register("dead", room).code();
          }) == StatusCode::kNotFound);
    CHECK(WhereisCode(engine, "dead") == StatusCode::kNotFound);
    // Elsewhere it cannot be known at once: accepted, then dropped.
    CHECK(engine.Register("dead-from-thread", room).ok());
    CHECK(OnLoop(engine, 0, [&](EventLoop& l) {
            return l.engine().Register("dead-from-loop-0", room).ok();
          }));
    CHECK(WaitFor([&] {
      return WhereisCode(engine, "dead-from-thread") == StatusCode::kNotFound &&
             WhereisCode(engine, "dead-from-loop-0") == StatusCode::kNotFound;
    }, Slack(seconds(10))));
  }

  TEST_CASE("names stay consistent while threads and loops register, look up and unregister them as actors die") {
    RunningEngine engine;
    constexpr int kActors = 16;
    constexpr int kNames = 8;
    constexpr int kThreads = 4;
    const int rounds = static_cast<int>(Scaled(3000, 300));
    std::vector<ActorRef> refs;
    for (int i = 0; i < kActors; ++i) {
      refs.push_back(SpawnOn<Room>(engine, static_cast<uint32_t>(i % 2)).get());
    }
    const absl::flat_hash_set<ActorRef> known(refs.begin(), refs.end());
    auto name = [](int i) { return "n" + std::to_string(i); };

    std::atomic<int> bad{0};   // a status or a ref that should not happen
    std::atomic<int> found{0};
    std::atomic<int> posted{0};
    std::atomic<int> ran{0};
    std::atomic<int> ops{0};  // progress, to spread the deaths over the run
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(static_cast<uint32_t>(t + 1));
        for (int i = 0; i < rounds; ++i, ops++) {
          const std::string n = name(static_cast<int>(rng() % kNames));
          const ActorRef& r = refs[rng() % kActors];
          switch (rng() % 4) {
            case 0: {  // from this thread
              const StatusCode c = engine.Register(n, r).code();
              if (c != StatusCode::kOk && c != StatusCode::kAlreadyExists) bad++;
              break;
            }
            case 1: {  // from a loop (on its own loop a dead ref is refused)
              const uint32_t loop = rng() % 2;
              const absl::Status s = engine.Post(loop, [&, n, r](EventLoop& l) {
                const StatusCode c = l.engine().Register(n, r).code();
                if (c != StatusCode::kOk && c != StatusCode::kAlreadyExists &&
                    c != StatusCode::kNotFound) {
                  bad++;
                }
                ran++;
              });
              if (s.ok()) {
                posted++;
              } else {
                bad++;
              }
              break;
            }
            case 2: {
              absl::StatusOr<ActorRef> w = engine.Whereis(n);
              if (w.ok()) {
                found++;
                if (!known.contains(*w)) bad++;
              } else if (w.status().code() != StatusCode::kNotFound) {
                bad++;
              }
              break;
            }
            default: {
              const StatusCode c = engine.Unregister(n).code();
              if (c != StatusCode::kOk && c != StatusCode::kNotFound) bad++;
            }
          }
        }
      });
    }
    // Meanwhile the actors die, one by one, on their loops, spread over
    // the run.
    std::thread killer([&] {
      const int total = kThreads * rounds;
      for (size_t i = 0; i < refs.size(); ++i) {
        const int due = static_cast<int>((i + 1) * total / (refs.size() + 1));
        WaitFor([&] { return ops.load() >= due; }, Slack(seconds(30)));
        const ActorRef r = refs[i];
        (void)engine.Post(r.loop, [r](EventLoop& l) { l.Despawn(r); });
      }
    });
    for (std::thread& t : threads) t.join();
    killer.join();
    REQUIRE(WaitFor([&] { return ran.load() == posted.load(); },
                    Slack(seconds(10))));
    CHECK(bad.load() == 0);
    MESSAGE("lookups that found a name: ", found.load());
    // Every actor is dead: every name goes (at its death, or when its
    // loop checks a registration that came later).
    CHECK(WaitFor([&] {
      for (int i = 0; i < kNames; ++i) {
        if (WhereisCode(engine, name(i)) != StatusCode::kNotFound) return false;
      }
      return true;
    }, Slack(seconds(10))));
  }
}

}  // namespace
}  // namespace actnet::integration
