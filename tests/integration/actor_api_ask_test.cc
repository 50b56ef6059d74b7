// The actor API of issue 19, part two: request/reply (Ask). The reply on
// the asker's loop across loops and on one loop, DeadlineExceeded after the
// timeout (once), NotFound at once for a dead target on the asker's loop,
// NotFound through the callback when the target dies unanswered, Aborted
// when a live target drops the request, nothing at all once the asker has
// died (and what its callback held is freed), a reply from another thread,
// and connections asking and being asked over real TCP.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/actor_api_testing.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

struct Get {  // answered at once with `value`
  using Reply = int;
  int value = 0;
};
struct Hold {  // kept unanswered until Answer
  using Reply = int;
};
struct Answer {  // answers every held request with `value`
  int value = 0;
};
struct Drop {  // dropped unanswered
  using Reply = int;
};
struct OffThread {  // answered with `value` from a thread of its own
  using Reply = int;
  int value = 0;
};

class Server : public Receives<Get, Hold, Answer, Drop, OffThread> {
 public:
  explicit Server(Events* events) : events_(events) {}
  ~Server() override {
    for (std::thread& t : threads_) t.join();
  }
  void On(Get& g, Promise<int> reply) override { reply.Reply(g.value); }
  void On(Hold&, Promise<int> reply) override {
    held_.push_back(std::move(reply));
    events_->Add("held");
  }
  void On(Answer& a) override {
    for (Promise<int>& p : held_) p.Reply(a.value);
    held_.clear();
  }
  void On(Drop&, Promise<int>) override {}
  void On(OffThread& o, Promise<int> reply) override {
    threads_.emplace_back([reply = std::move(reply), v = o.value]() mutable {
      reply.Reply(v);
    });
  }

 private:
  Events* events_;
  std::vector<Promise<int>> held_;
  std::vector<std::thread> threads_;
};

// A typed actor that receives no request at all.
class Mute : public Receives<Answer> {
 public:
  void On(Answer&) override {}
};

// Logs an Ask's outcome: "reply:<n>@<loop>" or "<STATUS>@<loop>".
auto Record(Events* events) {
  return [events](absl::StatusOr<int> r) {
    events->Add((r.ok() ? "reply:" + std::to_string(*r)
                        : StatusName(r.status())) +
                "@" + std::to_string(CurrentLoop()));
  };
}

// Engine::Ask for `asker`, made on its loop; the status Ask returned.
template <class To, class M>
absl::Status AskFrom(Engine& engine, const ActorRef& asker, const To& to,
                     M request, absl::Duration timeout, Events* results) {
  return OnLoop(engine, asker.loop, [&](EventLoop& l) {
    return l.engine().Ask(asker, to, std::move(request), timeout,
                          Record(results));
  });
}

struct Go {
  Ref<Server> to;
  int value = 0;
};
// Asks through Actor::Ask when told to.
class Prober : public Receives<Go> {
 public:
  explicit Prober(Events* results) : results_(results) {}
  void On(Go& g) override {
    const absl::Status s =
        Ask(g.to, Get{g.value}, absl::Seconds(10), Record(results_));
    if (!s.ok()) results_->Add("refused:" + StatusName(s));
  }

 private:
  Events* results_;
};

// The engine last, so that it stops before the logs its actors write go.
struct Fixture {
  Events events;   // the servers' "held"
  Events results;  // the askers' outcomes
  RunningEngine engine;
};

constexpr absl::Duration kLong = absl::Seconds(30);

TEST_SUITE("Ask") {
  TEST_CASE("the reply comes back on the asker's loop, from another loop and from its own") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> asker0 = SpawnOn<Idle>(f.engine, 0);
    Ref<Idle> asker1 = SpawnOn<Idle>(f.engine, 1);
    CHECK(AskFrom(f.engine, asker0, server.get(), Get{5}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(1));
    CHECK(AskFrom(f.engine, asker1, server.get(), Get{6}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(2));
    // Through the typed ref.
    CHECK(AskFrom(f.engine, asker0, server, Get{7}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(3));
    // Through Actor::Ask, from an actor's own On.
    Ref<Prober> prober = SpawnOn<Prober>(f.engine, 0, &f.results);
    REQUIRE(f.engine.Tell(prober, Go{server, 8}).ok());
    REQUIRE(f.results.WaitSize(4));
    CHECK(f.results.All() == std::vector<std::string>{"reply:5@0", "reply:6@1",
                                                      "reply:7@0", "reply:8@0"});
    CHECK(f.engine.Unhandled() == 0);
    CHECK(f.engine.DeadLetters() == 0);
  }

  TEST_CASE("an unanswered Ask says DeadlineExceeded after its timeout, and only once") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
    const auto start = Clock::now();
    CHECK(AskFrom(f.engine, asker, server, Hold{}, absl::Milliseconds(100),
                  &f.results)
              .ok());
    REQUIRE(f.results.WaitSize(1));
    const auto waited = Clock::now() - start;
    CHECK(f.results.All()[0] == "DEADLINE_EXCEEDED@0");
    // The timer runs on the loop's iteration clock: allow a little.
    CHECK(waited >= milliseconds(90));
    // The late answer finds nobody waiting.
    REQUIRE(f.events.WaitSize(1));
    REQUIRE(f.engine.Tell(server, Answer{9}).ok());
    Fence(f.engine, 1, 1);  // Answer handled, the reply sent to loop 0
    Fence(f.engine, 1, 0);  // ... and run there
    CHECK(f.results.size() == 1);
  }

  TEST_CASE("an Ask with an infinite timeout waits for its reply") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
    CHECK(AskFrom(f.engine, asker, server, Hold{}, absl::InfiniteDuration(),
                  &f.results)
              .ok());
    REQUIRE(f.events.WaitSize(1));
    // A timer due now would run in the asker loop's next iterations.
    Fence(f.engine, 0, 0);
    Fence(f.engine, 0, 0);
    INFO("results: ", f.results.All().empty() ? "" : f.results.All()[0]);
    CHECK(f.results.size() == 0);
    REQUIRE(f.engine.Tell(server, Answer{42}).ok());
    REQUIRE(f.results.WaitSize(1));
    CHECK(f.results.All().back() == "reply:42@0");
  }

  TEST_CASE("an Ask to a dead actor is NotFound: returned on the asker's loop, called back from another") {
    Fixture f;
    Ref<Server> near = SpawnOn<Server>(f.engine, 0, &f.events);
    Ref<Server> far = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
    REQUIRE(CloseAndWait(f.engine, near).status.ok());
    REQUIRE(CloseAndWait(f.engine, far).status.ok());

    CHECK(AskFrom(f.engine, asker, near, Get{1}, kLong, &f.results).code() ==
          absl::StatusCode::kNotFound);
    Fence(f.engine, 0, 0);
    CHECK(f.results.size() == 0);  // the callback never runs

    CHECK(AskFrom(f.engine, asker, far, Get{2}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(1));
    CHECK(f.results.All() == std::vector<std::string>{"NOT_FOUND@0"});
  }

  TEST_CASE("a target that dies with the request unanswered makes the callback say NotFound") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> far_asker = SpawnOn<Idle>(f.engine, 0);
    Ref<Idle> near_asker = SpawnOn<Idle>(f.engine, 1);
    CHECK(AskFrom(f.engine, far_asker, server, Hold{}, kLong, &f.results).ok());
    CHECK(AskFrom(f.engine, near_asker, server, Hold{}, kLong, &f.results).ok());
    REQUIRE(f.events.WaitSize(2));
    CHECK(f.results.size() == 0);
    REQUIRE(CloseAndWait(f.engine, server).status.ok());
    REQUIRE(f.results.WaitSize(2));
    CHECK(f.results.Count("NOT_FOUND@0") == 1);
    CHECK(f.results.Count("NOT_FOUND@1") == 1);
  }

  TEST_CASE("a live target that drops the request makes the callback say Aborted") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Mute> mute = SpawnOn<Mute>(f.engine, 1);
    Ref<Idle> idle = SpawnOn<Idle>(f.engine, 0);
    Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
    CHECK(AskFrom(f.engine, asker, server, Drop{}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(1));
    // A typed actor that does not list the request: unhandled, and dropped.
    CHECK(AskFrom(f.engine, asker, mute.get(), Get{1}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(2));
    // A plain actor that ignores it, on the asker's own loop.
    CHECK(AskFrom(f.engine, asker, idle.get(), Get{1}, kLong, &f.results).ok());
    REQUIRE(f.results.WaitSize(3));
    CHECK(f.results.All() == std::vector<std::string>{"ABORTED@0", "ABORTED@0",
                                                      "ABORTED@0"});
    CHECK(f.engine.Unhandled() == 1);
  }

  TEST_CASE("once the asker has died its callback never runs and what it held is freed") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    std::atomic<int> calls{0};
    auto ask_holding = [&](const ActorRef& asker, absl::Duration timeout,
                           std::weak_ptr<int>* held) {
      auto token = std::make_shared<int>(0);
      *held = token;
      return OnLoop(f.engine, asker.loop, [&](EventLoop& l) {
        return l.engine().Ask(asker, server, Hold{}, timeout,
                              [token, &calls](absl::StatusOr<int>) { calls++; });
      });
    };

    SUBCASE("the reply arrives after the asker died") {
      for (uint32_t loop : {0u, 1u}) {
        Ref<Idle> asker = SpawnOn<Idle>(f.engine, loop);
        std::weak_ptr<int> held;
        REQUIRE(ask_holding(asker, kLong, &held).ok());
        REQUIRE(f.events.WaitSize(loop + 1));
        REQUIRE(CloseAndWait(f.engine, asker).status.ok());
        CHECK(!held.expired());  // still waiting for the reply
        REQUIRE(f.engine.Tell(server, Answer{1}).ok());
        CHECK(WaitFor([&] { return held.expired(); }, Slack(seconds(10))));
        Fence(f.engine, 1, loop);
      }
    }
    SUBCASE("the timeout comes after the asker died") {
      Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
      std::weak_ptr<int> held;
      REQUIRE(ask_holding(asker, absl::Milliseconds(50), &held).ok());
      REQUIRE(f.events.WaitSize(1));
      REQUIRE(CloseAndWait(f.engine, asker).status.ok());
      CHECK(WaitFor([&] { return held.expired(); }, Slack(seconds(10))));
    }
    SUBCASE("the target dies after the asker died") {
      Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
      std::weak_ptr<int> held;
      REQUIRE(ask_holding(asker, kLong, &held).ok());
      REQUIRE(f.events.WaitSize(1));
      REQUIRE(CloseAndWait(f.engine, asker).status.ok());
      REQUIRE(CloseAndWait(f.engine, server).status.ok());
      CHECK(WaitFor([&] { return held.expired(); }, Slack(seconds(10))));
    }
    CHECK(calls.load() == 0);
  }

  TEST_CASE("a Promise answers from another thread") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> asker0 = SpawnOn<Idle>(f.engine, 0);
    Ref<Idle> asker1 = SpawnOn<Idle>(f.engine, 1);
    const int n = static_cast<int>(Scaled(50, 10));
    for (int i = 0; i < n; ++i) {
      const Ref<Idle>& asker = i % 2 == 0 ? asker0 : asker1;
      REQUIRE(AskFrom(f.engine, asker, server, OffThread{i}, kLong, &f.results)
                  .ok());
    }
    REQUIRE(f.results.WaitSize(static_cast<size_t>(n)));
    for (int i = 0; i < n; ++i) {
      const std::string want =
          "reply:" + std::to_string(i) + "@" + std::to_string(i % 2);
      CHECK(f.results.Count(want) == 1);
    }
  }

  TEST_CASE("Ask is refused off the asker's loop and for an invalid target") {
    Fixture f;
    Ref<Server> server = SpawnOn<Server>(f.engine, 1, &f.events);
    Ref<Idle> asker = SpawnOn<Idle>(f.engine, 0);
    CHECK(f.engine.Ask(asker, server, Get{1}, kLong, Record(&f.results)).code() ==
          absl::StatusCode::kFailedPrecondition);
    CHECK(OnLoop(f.engine, 1, [&](EventLoop& l) {
            return l.engine()
                .Ask(asker, server, Get{1}, kLong, Record(&f.results))
                .code();
          }) == absl::StatusCode::kFailedPrecondition);
    CHECK(AskFrom(f.engine, asker, ActorRef{}, Get{1}, kLong, &f.results).code() ==
          absl::StatusCode::kInvalidArgument);
    Fence(f.engine, 0, 0);
    CHECK(f.results.size() == 0);
  }
}

// ---------------------------------------------------------------------------
// Connections asking and being asked.

struct ConnShared {
  ConnLog log;
  Events results;
  std::mutex mu;
  Ref<Server> server;  // what the asking handler asks
};

// Lines from the client: "ask <n>" asks the server for Get{n} and writes
// "got <n>"; "hold" asks it to Hold, with a callback that writes to the
// connection (safe only because it never runs once the connection died).
class AskingConn : public LoggedHandler {
 public:
  explicit AskingConn(ConnShared* s) : LoggedHandler(&s->log), s_(s) {}
  Action OnData(Conn& conn) override {
    while (const std::optional<std::string> line = TakeLine(conn)) {
      Ref<Server> server;
      {
        std::lock_guard<std::mutex> lock(s_->mu);
        server = s_->server;
      }
      Conn* c = &conn;
      Events* results = &s_->results;
      auto done = [c, results](absl::StatusOr<int> r) {
        results->Add(r.ok() ? "got" : StatusName(r.status()));
        c->Write(r.ok() ? "got " + std::to_string(*r) + "\n" : "failed\n");
      };
      absl::Status st;
      if (line->rfind("ask ", 0) == 0) {
        st = conn.Ask(server, Get{std::stoi(line->substr(4))}, kLong, done);
      } else {
        st = conn.Ask(server, Hold{}, kLong, done);
      }
      if (!st.ok()) conn.Write("refused\n");
    }
    return Action::kNone;
  }

 private:
  ConnShared* s_;
};

// Answers Get with `value` and holds Hold (writing "held" to its client).
class AskedConn : public LoggedConnReceives<Get, Hold> {
 public:
  explicit AskedConn(ConnShared* s) : LoggedConnReceives(&s->log) {}
  Action On(Conn&, Get& g, Promise<int> reply) override {
    reply.Reply(g.value * 10);
    return Action::kNone;
  }
  Action On(Conn& conn, Hold&, Promise<int> reply) override {
    held_ = std::move(reply);
    conn.Write("held\n");
    return Action::kNone;
  }

 private:
  Promise<int> held_;
};

TEST_SUITE("Ask with connections") {
  TEST_CASE("a connection asks an actor and writes the reply to its client; once closed it hears nothing") {
    const FdLeakCheck fds;
    ConnShared shared;
    Events held;
    RunningEngine engine(&shared.log, HandlersOf<AskingConn>(&shared));
    std::vector<Client> clients = engine.ConnectClients(2);
    const std::vector<ActorRef> refs = shared.log.opened_refs();
    REQUIRE(refs[0].loop != refs[1].loop);
    // The server lives on the first connection's loop: one asker is
    // local, the other across loops.
    const uint32_t server_loop = refs[0].loop;
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.server = SpawnOn<Server>(engine, server_loop, &held);
    }
    for (int i = 0; i < 2; ++i) {
      Client& c = clients[static_cast<size_t>(i)];
      REQUIRE(c.SendAll("ask " + std::to_string(i + 3) + "\n",
                        testing::After(seconds(10))));
      REQUIRE(ReadExpected(c, "got " + std::to_string(i + 3) + "\n"));
    }
    // Both hold a request, then go away: a reset closes each at once.
    for (Client& c : clients) {
      REQUIRE(c.SendAll("hold\n", testing::After(seconds(10))));
    }
    REQUIRE(held.WaitSize(2));
    for (Client& c : clients) c.ResetClose();
    REQUIRE(shared.log.WaitCloses(2));
    // The answers now reach dead askers: their callbacks (which would
    // write through a dangling Conn*) must not run.
    REQUIRE(engine.Tell(shared.server, Answer{1}).ok());
    for (uint32_t to : {0u, 1u}) Fence(engine, server_loop, to);
    CHECK(shared.results.All() == std::vector<std::string>{"got", "got"});
  }

  TEST_CASE("an actor asks a connection; the connection's close answers NotFound") {
    const FdLeakCheck fds;
    ConnShared shared;
    Events results;
    RunningEngine engine(&shared.log, HandlersOf<AskedConn>(&shared));
    auto [client, ref] = engine.ConnectClient();
    const Ref<AskedConn> conn(ref);
    Ref<Idle> asker = SpawnOn<Idle>(engine, 1 - conn.get().loop);
    CHECK(AskFrom(engine, asker, conn, Get{4}, kLong, &results).ok());
    REQUIRE(results.WaitSize(1));
    CHECK(AskFrom(engine, asker, conn, Hold{}, kLong, &results).ok());
    REQUIRE(ReadExpected(client, "held\n"));
    client.Close();
    REQUIRE(results.WaitSize(2));
    const std::string loop = std::to_string(asker.get().loop);
    CHECK(results.All() ==
          std::vector<std::string>{"reply:40@" + loop, "NOT_FOUND@" + loop});
  }
}

}  // namespace
}  // namespace actnet::integration
