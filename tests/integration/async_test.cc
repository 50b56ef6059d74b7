// The thread-safe Engine calls on connection actors: AsyncWrite from foreign
// threads into connections on other loops (per-thread order, completions),
// AsyncWrite to a closed connection, Tell (from a foreign thread and from
// another loop's handler), Wake, Close, and dead letters.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

// A user message type.
struct Note {
  int value;
};

struct Shared {
  ConnLog log;
  std::atomic<int> data_calls{0};
  std::atomic<int> last_inbound{-1};
  std::mutex mu;
  std::vector<ActorRef> peers;  // for "tell <k>" lines
};

// Leaves inbound bytes buffered until a full line arrives. Lines:
// "tell <k> <v>" Tells peer k a Note{v} from this loop; others are echoed.
// A Note is written back as "note:<v>\n".
class Sink : public LoggedHandler {
 public:
  explicit Sink(Shared* s) : LoggedHandler(&s->log), s_(s) {}

  Action OnData(Conn& conn) override {
    // Stored before the count a test waits for, so it is never seen stale.
    s_->last_inbound.store(static_cast<int>(conn.InboundBytes()));
    s_->data_calls.fetch_add(1);
    for (;;) {
      const absl::string_view in = conn.Peek();
      const size_t eol = in.find('\n');
      if (eol == absl::string_view::npos) return Action::kNone;
      const std::string line(in.substr(0, eol + 1));
      conn.Discard(eol + 1);
      int k = 0;
      int v = 0;
      if (std::sscanf(line.c_str(), "tell %d %d", &k, &v) == 2) {
        ActorRef to;
        {
          std::lock_guard<std::mutex> lock(s_->mu);
          to = s_->peers.at(static_cast<size_t>(k));
        }
        const absl::Status st = conn.loop().engine().Tell<Note>(to, Note{v});
        conn.Write(st.ok() ? "told\n" : "tell failed\n");
      } else {
        conn.Write(line);
      }
    }
  }

  Action OnMessage(Conn& conn, Envelope& message) override {
    if (const Note* n = message.As<Note>()) {
      conn.Write("note:" + std::to_string(n->value) + "\n");
    }
    return Action::kNone;
  }

 private:
  Shared* s_;
};

struct Server {
  explicit Server(int loops) : engine(Loops(loops)) {
    Shared* s = &shared;
    REQUIRE(engine.Listen("tcp://127.0.0.1:0",
                          [s] { return std::make_unique<Sink>(s); })
                .ok());
    REQUIRE(engine.Start().ok());
  }
  // Connects n clients; returns them with the server-side ref of each.
  void ConnectClients(int n, std::vector<Client>* clients,
                      std::vector<ActorRef>* refs) {
    for (int i = 0; i < n; ++i) {
      std::string error;
      Client c = Client::Connect(FirstAddress(engine), &error);
      INFO(error);
      REQUIRE(c.valid());
      clients->push_back(std::move(c));
      // One at a time, so the i-th ref belongs to the i-th client.
      REQUIRE(shared.log.WaitOpens(i + 1));
    }
    *refs = shared.log.opened_refs();
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.peers = *refs;
  }

  Shared shared;
  Engine engine;
};

Clock::time_point Soon() { return Clock::now() + seconds(20); }

std::string Record(int thread, int seq) {
  // Variable length, so records straddle socket writes and reads.
  return "t" + std::to_string(thread) + ":" + std::to_string(seq) + ":" +
         std::string(static_cast<size_t>(seq % 97), 'x') + "\n";
}

TEST_CASE("AsyncWrite from four foreign threads reaches connections on every loop in per-thread order") {
  const int fds_before = CountOpenFds();
  {
    constexpr int kThreads = 4;
    constexpr int kClients = 8;
    const int records = static_cast<int>(Scaled(2000, 100));
    Server server(4);
    std::vector<Client> clients;
    std::vector<ActorRef> refs;
    server.ConnectClients(kClients, &clients, &refs);
    std::set<uint32_t> loops;
    for (const ActorRef& r : refs) loops.insert(r.loop);
    CHECK(loops.size() == 4);  // round-robin spread them over every loop

    size_t expected_bytes = 0;
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < records; ++i) expected_bytes += Record(t, i).size();
    }

    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::atomic<int> rejected{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < records; ++i) {
          for (const ActorRef& ref : refs) {
            const absl::Status s = server.engine.AsyncWrite(
                ref, Record(t, i), [&ok, &failed](absl::Status st) {
                  (st.ok() ? ok : failed).fetch_add(1);
                });
            if (!s.ok()) rejected.fetch_add(1);
          }
        }
      });
    }

    // Each client checks that every thread's records arrive in order.
    std::vector<std::string> problems(kClients);
    std::vector<std::thread> readers;
    for (int c = 0; c < kClients; ++c) {
      readers.emplace_back([&, c] {
        std::string got;
        if (!clients[static_cast<size_t>(c)].RecvExactly(expected_bytes, &got,
                                                          Soon())) {
          problems[static_cast<size_t>(c)] =
              "received " + std::to_string(got.size()) + " of " +
              std::to_string(expected_bytes) + " bytes";
          return;
        }
        std::vector<int> next(kThreads, 0);
        size_t pos = 0;
        while (pos < got.size()) {
          const size_t eol = got.find('\n', pos);
          int t = -1;
          int seq = -1;
          if (eol == std::string::npos ||
              std::sscanf(got.c_str() + pos, "t%d:%d:", &t, &seq) != 2 ||
              t < 0 || t >= kThreads ||
              got.compare(pos, eol + 1 - pos, Record(t, seq)) != 0) {
            problems[static_cast<size_t>(c)] =
                "garbled record at byte " + std::to_string(pos);
            return;
          }
          if (seq != next[static_cast<size_t>(t)]) {
            problems[static_cast<size_t>(c)] =
                "thread " + std::to_string(t) + ": record " +
                std::to_string(seq) + " arrived when " +
                std::to_string(next[static_cast<size_t>(t)]) + " was due";
            return;
          }
          ++next[static_cast<size_t>(t)];
          pos = eol + 1;
        }
      });
    }
    for (std::thread& w : writers) w.join();
    for (std::thread& r : readers) r.join();
    for (int c = 0; c < kClients; ++c) {
      INFO("client ", c, ": ", problems[static_cast<size_t>(c)]);
      CHECK(problems[static_cast<size_t>(c)].empty());
    }
    const int total = kThreads * kClients * records;
    CHECK(rejected.load() == 0);
    CHECK(WaitFor([&] { return ok.load() + failed.load() >= total; }));
    CHECK(ok.load() == total);
    CHECK(failed.load() == 0);
    server.engine.Stop();
    server.engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("AsyncWrite to a closed connection calls back with an error") {
  const int fds_before = CountOpenFds();
  {
    Server server(2);
    std::vector<Client> clients;
    std::vector<ActorRef> refs;
    server.ConnectClients(2, &clients, &refs);
    clients[0].Close();
    REQUIRE(server.shared.log.WaitCloses(1));
    const uint64_t dead_before = server.engine.DeadLetters();

    std::mutex mu;
    std::vector<absl::Status> results;
    auto record = [&](absl::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(s));
    };
    CHECK(server.engine.AsyncWrite(refs[0], "lost", record).ok());
    CHECK(server.engine.AsyncWrite(refs[1], "kept\n", record).ok());
    std::string got;
    CHECK(clients[1].RecvExactly(5, &got, Soon()));
    CHECK(got == "kept\n");
    CHECK(WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu);
      return results.size() == 2;
    }));
    {
      std::lock_guard<std::mutex> lock(mu);
      REQUIRE(results.size() == 2);
      int oks = 0;
      for (const absl::Status& s : results) oks += s.ok() ? 1 : 0;
      CHECK(oks == 1);  // the live one
      for (const absl::Status& s : results) {
        if (!s.ok()) {
          INFO(s.ToString());
          CHECK(absl::IsFailedPrecondition(s));
        }
      }
    }
    CHECK(WaitFor([&] { return server.engine.DeadLetters() == dead_before + 1; }));
    CHECK(server.engine.DeadLetters() == dead_before + 1);
    server.engine.Stop();
    server.engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

// Symptom this pins: when AsyncWrite refuses a write (ResourceExhausted:
// the loop's foreign queue is full) it also runs the write's callback, at
// once, on the calling thread, with FailedPrecondition "the connection is
// closed". The failure is reported twice, the second time wrongly, and
// against the contract that `done` runs on the connection's loop: a caller
// holding a lock its callback takes deadlocks. Cause: the refused Envelope
// is destroyed in Engine::Tell's caller, and ~AsyncWriteMsg fires `done`.
TEST_CASE("a refused AsyncWrite reports its failure once, not also through its callback") {
  const int fds_before = CountOpenFds();
  {
    EngineOptions options;
    options.loops = 2;
    options.foreign_queue_limit = 4;
    Engine engine(options);
    Shared shared;
    Shared* sp = &shared;
    REQUIRE(engine.Listen("tcp://127.0.0.1:0",
                          [sp] { return std::make_unique<Sink>(sp); })
                .ok());
    REQUIRE(engine.Start().ok());
    Client client = Client::Connect(FirstAddress(engine));
    REQUIRE(client.valid());
    REQUIRE(shared.log.WaitOpens(1));
    const ActorRef ref = shared.log.opened_refs()[0];

    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<int> on_caller_thread{0};
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    int refused = 0;
    int refused_then_called = 0;
    std::string expected;
    {
      LoopBlocker blocker(engine, ref.loop);
      REQUIRE(blocker.blocking());
      for (int i = 0; i < 16; ++i) {
        const std::string rec = "w" + std::to_string(i) + "\n";
        const int failed_before = failed.load();
        const absl::Status s = engine.AsyncWrite(
            ref, rec, [&, caller](absl::Status st) {
              if (std::this_thread::get_id() == caller) on_caller_thread.fetch_add(1);
              (st.ok() ? ok : failed).fetch_add(1);
            });
        if (s.ok()) {
          expected += rec;
        } else {
          CHECK(absl::IsResourceExhausted(s));
          ++refused;
          if (failed.load() != failed_before) ++refused_then_called;
        }
      }
    }
    CHECK(refused > 0);  // the queue bound was reached
    std::string got;
    CHECK(client.RecvExactly(expected.size(), &got, Soon()));
    CHECK(got == expected);  // accepted writes arrive, in order
    const int accepted = 16 - refused;
    CHECK(WaitFor([&] { return ok.load() >= accepted; }));
    CHECK(ok.load() == accepted);
    CHECK(refused_then_called == 0);
    CHECK(failed.load() == 0);
    CHECK(on_caller_thread.load() == 0);
    engine.Stop();
    engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("Tell delivers a user message to OnMessage, from a foreign thread and from another loop") {
  const int fds_before = CountOpenFds();
  {
    Server server(4);
    std::vector<Client> clients;
    std::vector<ActorRef> refs;
    server.ConnectClients(2, &clients, &refs);
    REQUIRE(refs[0].loop != refs[1].loop);

    CHECK(server.engine.Tell<Note>(refs[0], Note{7}).ok());
    std::string got;
    CHECK(clients[0].RecvExactly(7, &got, Soon()));
    CHECK(got == "note:7\n");

    // Client 0's handler, on its loop, tells client 1's connection.
    REQUIRE(clients[0].SendAll("tell 1 42\n", Soon()));
    got.clear();
    CHECK(clients[0].RecvExactly(5, &got, Soon()));
    CHECK(got == "told\n");
    got.clear();
    CHECK(clients[1].RecvExactly(8, &got, Soon()));
    CHECK(got == "note:42\n");
    server.engine.Stop();
    server.engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("Wake calls OnData again with the bytes still buffered") {
  const int fds_before = CountOpenFds();
  {
    Server server(2);
    std::vector<Client> clients;
    std::vector<ActorRef> refs;
    server.ConnectClients(1, &clients, &refs);
    REQUIRE(clients[0].SendAll("partial", Soon()));
    REQUIRE(WaitFor([&] { return server.shared.data_calls.load() == 1; }));
    CHECK(server.shared.last_inbound.load() == 7);
    CHECK(server.engine.Wake(refs[0]).ok());
    CHECK(WaitFor([&] { return server.shared.data_calls.load() == 2; }));
    CHECK(server.shared.last_inbound.load() == 7);
    // The buffered bytes are still there for the rest of the line.
    REQUIRE(clients[0].SendAll(" line\n", Soon()));
    std::string got;
    CHECK(clients[0].RecvExactly(13, &got, Soon()));
    CHECK(got == "partial line\n");
    server.engine.Stop();
    server.engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("Engine::Close closes the connection and later messages to it are dead letters") {
  const int fds_before = CountOpenFds();
  {
    Server server(2);
    std::vector<Client> clients;
    std::vector<ActorRef> refs;
    server.ConnectClients(2, &clients, &refs);
    CHECK(server.engine.AsyncWrite(refs[0], "bye\n").ok());
    CHECK(server.engine.Close(refs[0]).ok());
    std::string got;
    CHECK(clients[0].RecvUntilEof(&got, Soon()));
    CHECK(got == "bye\n");  // queued output flushed before the close
    REQUIRE(server.shared.log.WaitCloses(1));
    CHECK(server.shared.log.reasons()[0].kind == CloseReason::Kind::kLocal);

    const uint64_t dead_before = server.engine.DeadLetters();
    CHECK(server.engine.Tell<Note>(refs[0], Note{1}).ok());
    CHECK(server.engine.Wake(refs[0]).ok());
    CHECK(server.engine.Close(refs[0]).ok());
    CHECK(WaitFor([&] { return server.engine.DeadLetters() >= dead_before + 3; }));
    CHECK(server.engine.DeadLetters() == dead_before + 3);
    // The other connection is untouched.
    CHECK(clients[1].RoundTrip("still here\n", Soon()));
    server.engine.Stop();
    server.engine.Wait();
  }
  CheckNoFdLeak(fds_before);
}

}  // namespace
}  // namespace actnet::integration
