// Connection lifecycles end to end: a server that closes right after a large
// reply, a client that half-closes, a client that resets, a handler that
// shuts the engine down, and Conn::Close with a callback. OnOpen and OnClose
// must pair up, and the loop must keep serving after each.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

// Deterministic content for large replies.
std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  }
  return out;
}

// What the scripted handler shares with the test thread.
struct Shared {
  ConnLog log;
  std::atomic<int> close_callbacks{0};
  // Closes logged before the Close(callback) callback ran.
  std::atomic<int> closes_before_callback{-1};
};

// Reads '\n'-terminated commands:
//   "big N"      write N pattern bytes
//   "bigclose N" write N pattern bytes and return Action::kClose
//   "shutdown"   return Action::kShutdown
//   "closecb"    Conn::Close(callback)
//   anything else is echoed back with its newline.
class Scripted : public LoggedHandler {
 public:
  explicit Scripted(Shared* shared) : LoggedHandler(&shared->log), shared_(shared) {}

  Action OnData(Conn& conn) override {
    for (;;) {
      const absl::string_view in = conn.Peek();
      const size_t eol = in.find('\n');
      if (eol == absl::string_view::npos) return Action::kNone;
      const std::string line(in.substr(0, eol));
      conn.Discard(eol + 1);
      const Action a = Run(conn, line);
      if (a != Action::kNone) return a;
    }
  }

 private:
  Action Run(Conn& conn, const std::string& line) {
    if (line.rfind("big ", 0) == 0) {
      conn.Write(Pattern(std::stoul(line.substr(4))));
      return Action::kNone;
    }
    if (line.rfind("bigclose ", 0) == 0) {
      conn.Write(Pattern(std::stoul(line.substr(9))));
      return Action::kClose;
    }
    if (line == "shutdown") return Action::kShutdown;
    if (line == "closecb") {
      Shared* shared = shared_;
      conn.Close([shared] {
        shared->closes_before_callback.store(shared->log.closes());
        shared->close_callbacks.fetch_add(1);
      });
      return Action::kNone;
    }
    conn.Write(line + "\n");
    return Action::kNone;
  }

  Shared* shared_;
};

// An engine serving Scripted on a TCP port of 127.0.0.1.
struct Server {
  explicit Server(int loops = 1) : engine(Loops(loops)) {
    Shared* s = &shared;
    REQUIRE(engine
                .Listen("tcp://127.0.0.1:0",
                        [s] { return std::make_unique<Scripted>(s); })
                .ok());
    REQUIRE(engine.Start().ok());
    url = FirstAddress(engine);
  }
  Client Connect(int rcvbuf = 0) {
    std::string error;
    Client c = Client::Connect(url, &error, seconds(10), rcvbuf);
    INFO(error);
    REQUIRE(c.valid());
    return c;
  }
  // A fresh client gets an echo: the loop is still serving.
  bool StillServes() {
    Client c = Connect();
    return c.RoundTrip("ping\n", Clock::now() + seconds(10));
  }

  Shared shared;
  Engine engine;
  std::string url;
};

Clock::time_point Soon() { return Clock::now() + seconds(20); }

SCENARIO("a server that replies and closes delivers every byte before EOF") {
  const int fds_before = CountOpenFds();
  {
    GIVEN("a handler that writes 4 MiB and returns Action::kClose") {
      Server server;
      // A small receive buffer keeps most of the reply queued in the server
      // when it decides to close.
      Client client = server.Connect(64 * 1024);
      WHEN("the client asks and then reads until EOF") {
        const size_t n = 4 << 20;
        REQUIRE(client.SendAll("bigclose " + std::to_string(n) + "\n", Soon()));
        std::string reply;
        const bool eof = client.RecvUntilEof(&reply, Soon());
        THEN("it gets all 4 MiB, byte-exact, then EOF") {
          CHECK(eof);
          CHECK(reply.size() == n);
          CHECK((reply == Pattern(n)));
        }
        THEN("the server saw a local close") {
          REQUIRE(server.shared.log.WaitCloses(1));
          CHECK(server.shared.log.reasons()[0].kind == CloseReason::Kind::kLocal);
          CHECK(server.StillServes());
        }
      }
      server.engine.Stop();
      server.engine.Wait();
      CHECK(server.shared.log.opens() == server.shared.log.closes());
    }
  }
  CheckNoFdLeak(fds_before);
}

// Symptom this pins: a server that closes while its peer is still sending
// (pipelined requests it will not answer) resets the connection, and the
// peer loses the tail of the reply the server had already "flushed". Cause:
// close() on a socket with unread inbound bytes sends a RST and discards
// the kernel's unsent output. A graceful close needs shutdown(SHUT_WR) and
// to drain (discard) input until EOF or a timeout before close().
SCENARIO("a server that closes while the client keeps sending still delivers the whole reply") {
  const int fds_before = CountOpenFds();
  {
    GIVEN("a handler that writes 4 MiB and returns Action::kClose") {
      Server server;
      Client client = server.Connect(64 * 1024);
      WHEN("the request is followed by more bytes the server never reads") {
        const size_t n = 4 << 20;
        std::string request = "bigclose " + std::to_string(n) + "\n";
        request += std::string(1 << 20, 'p');
        std::thread writer([&] {
          // May fail once the server has closed; only the reply matters.
          (void)client.SendAll(request, Clock::now() + seconds(10));
        });
        std::string reply;
        const bool eof = client.RecvUntilEof(&reply, Soon());
        writer.join();
        THEN("the whole reply arrives, then EOF") {
          INFO("received ", reply.size(), " of ", n, " bytes, errno ",
               client.last_error());
          CHECK(eof);
          CHECK(reply.size() == n);
          CHECK((reply == Pattern(n)));
        }
      }
      server.engine.Stop();
      server.engine.Wait();
    }
  }
  CheckNoFdLeak(fds_before);
}

SCENARIO("a client that half-closes still gets the reply") {
  const int fds_before = CountOpenFds();
  {
    GIVEN("a server that replies to a complete request line") {
      Server server;
      WHEN("the client sends a request, shuts down writing at once, and reads") {
        Client client = server.Connect(64 * 1024);
        const size_t n = 2 << 20;  // larger than the socket buffers
        REQUIRE(client.SendAll("big " + std::to_string(n) + "\nhello\n", Soon()));
        client.ShutdownWrite();
        std::string reply;
        const bool eof = client.RecvUntilEof(&reply, Soon());
        THEN("the whole reply arrives, then EOF") {
          CHECK(eof);
          CHECK(reply.size() == n + 6);
          CHECK((reply == Pattern(n) + "hello\n"));
        }
        THEN("the server saw the peer close") {
          REQUIRE(server.shared.log.WaitCloses(1));
          CHECK(server.shared.log.reasons()[0].kind ==
                CloseReason::Kind::kPeerClosed);
        }
      }
      WHEN("a small request is half-closed") {
        Client client = server.Connect();
        REQUIRE(client.SendAll("short\n", Soon()));
        client.ShutdownWrite();
        std::string reply;
        CHECK(client.RecvUntilEof(&reply, Soon()));
        THEN("the echo arrives before EOF") { CHECK(reply == "short\n"); }
      }
      server.engine.Stop();
      server.engine.Wait();
      CHECK(server.shared.log.opens() == server.shared.log.closes());
    }
  }
  CheckNoFdLeak(fds_before);
}

SCENARIO("a peer reset closes the connection with an error and the loop keeps serving") {
  const int fds_before = CountOpenFds();
  {
    GIVEN("a connection whose server has 4 MiB of output pending") {
      Server server;
      Client client = server.Connect(64 * 1024);
      REQUIRE(server.shared.log.WaitOpens(1));
      REQUIRE(client.SendAll("big " + std::to_string(4 << 20) + "\n", Soon()));
      std::string first;
      // The reply has started: the server is now writing, with most of it
      // queued behind the client's small receive window.
      REQUIRE(client.RecvExactly(1024, &first, Soon()));
      WHEN("the client resets (SO_LINGER {1, 0} and close)") {
        client.ResetClose();
        THEN("OnClose reports an error") {
          REQUIRE(server.shared.log.WaitCloses(1));
          const CloseReason r = server.shared.log.reasons()[0];
          INFO("reason: ", r.ToString());
          CHECK(r.kind == CloseReason::Kind::kError);
          CHECK(r.is_error());
          CHECK(r.error != 0);
        }
        THEN("a new client is served on the same loop") {
          CHECK(server.StillServes());
          CHECK(WaitFor([&] { return server.engine.CountConnections() == 0; }));
        }
      }
      server.engine.Stop();
      server.engine.Wait();
      CHECK(server.shared.log.opens() == server.shared.log.closes());
    }
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("OnOpen and OnClose pair up over many short connections") {
  const int fds_before = CountOpenFds();
  {
    Server server(2);
    const int n = static_cast<int>(Scaled(200, 20));
    for (int i = 0; i < n; ++i) {
      Client c = server.Connect();
      if (i % 3 == 0) {
        REQUIRE(c.RoundTrip("x\n", Soon()));
        c.Close();
      } else if (i % 3 == 1) {
        c.ResetClose();
      } else {
        c.Close();
      }
    }
    CHECK(server.shared.log.WaitCloses(n));
    CHECK(WaitFor([&] { return server.engine.CountConnections() == 0; }));
    server.engine.Stop();
    server.engine.Wait();
    CHECK(server.shared.log.opens() == n);
    CHECK(server.shared.log.closes() == n);
  }
  CheckNoFdLeak(fds_before);
}

SCENARIO("Action::kShutdown from a handler stops the engine") {
  const int fds_before = CountOpenFds();
  {
    GIVEN("an engine with two loops and a second, idle client") {
      Server server(2);
      Client idle = server.Connect();
      Client client = server.Connect();
      REQUIRE(server.shared.log.WaitOpens(2));
      WHEN("a handler returns kShutdown") {
        REQUIRE(client.SendAll("shutdown\n", Soon()));
        std::atomic<bool> waited{false};
        std::thread waiter([&] {
          server.engine.Wait();
          waited = true;
        });
        const bool stopped = WaitFor([&] { return waited.load(); });
        if (!stopped) server.engine.Stop();  // unblock the waiter, then fail
        waiter.join();
        THEN("Wait returns and every connection closed") {
          CHECK(stopped);
          CHECK(server.engine.stopping());
          CHECK(server.shared.log.closes() == 2);
          for (const CloseReason& r : server.shared.log.reasons()) {
            CHECK(r.kind == CloseReason::Kind::kEngineStopped);
          }
          std::string rest;
          CHECK(idle.RecvUntilEof(&rest, Soon()));
        }
      }
    }
  }
  CheckNoFdLeak(fds_before);
}

SCENARIO("Conn::Close with a callback runs the callback after OnClose") {
  const int fds_before = CountOpenFds();
  {
    GIVEN("a connection") {
      Server server;
      Client client = server.Connect();
      WHEN("its handler calls Close(callback)") {
        REQUIRE(client.SendAll("hello\ncloseb\ncloseCB\nclosecb\n", Soon()));
        std::string reply;
        CHECK(client.RecvUntilEof(&reply, Soon()));
        THEN("the client got what was written before, then EOF") {
          CHECK(reply == "hello\ncloseb\ncloseCB\n");
        }
        THEN("the callback ran once, after OnClose") {
          CHECK(WaitFor([&] { return server.shared.close_callbacks.load() == 1; }));
          CHECK(server.shared.closes_before_callback.load() == 1);
          CHECK(server.shared.log.reasons().at(0).kind ==
                CloseReason::Kind::kLocal);
        }
      }
      server.engine.Stop();
      server.engine.Wait();
      CHECK(server.shared.close_callbacks.load() == 1);
    }
  }
  CheckNoFdLeak(fds_before);
}

}  // namespace
}  // namespace actnet::integration
