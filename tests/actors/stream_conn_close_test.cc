// StreamConn's lifecycle without sockets (see stream_conn_test.cc for the
// set-up): graceful close with lingering, close_linger, Abort, half-close
// both ways, hang-ups and failed sends, the idle timeout, dials, and the
// loop's stop.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actors/stream_conn.h"

#include <errno.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "actors/handler.h"
#include "actors/options.h"
#include "doctest/doctest.h"
#include "tests/actors/conn_harness.h"
#include "tests/actors/fake_backend.h"

namespace actnet::testing {
namespace {

using internal::StreamConn;

TEST_SUITE("StreamConn") {
  SCENARIO("Close with output queued flushes it, sends FIN and lingers until the peer's EOF") {
    GIVEN("a handler that writes a reply and closes, on a full socket") {
      EngineOptions options;
      options.close_linger = absl::Seconds(5);
      Harness h(options);
      h.Accept({.on_data = [](Conn& c) {
        c.Write("bye");
        return Action::kClose;
      }});
      h.backend.set_room(0);
      h.conn->OnRead("quit");

      THEN("it stops reading and keeps the reply queued") {
        CHECK(h.backend.TakeOps() == Ops{"send 0/3", "reading off"});
        CHECK(h.conn->closing());
        CHECK(h.conn->OutboundBytes() == 3);
        CHECK(h.seen.events == Ops{"open", "data quit"});
      }
      AND_WHEN("the socket takes the reply") {
        h.backend.TakeOps();
        h.backend.set_room(FakeBackend::kUnlimited);
        h.conn->OnSendReady();

        THEN("FIN follows the reply and it reads on, to see the peer's EOF") {
          CHECK(h.backend.TakeOps() == Ops{"send 3/3", "shutdown", "reading on"});
          CHECK(h.sent() == "bye");
          CHECK(h.live());
          CHECK(h.seen.events == Ops{"open", "data quit"});
        }
        AND_WHEN("the peer sends more, then its EOF") {
          h.backend.TakeOps();
          h.conn->OnRead("late");
          h.conn->OnReadEof();

          THEN("what it sent is discarded and the connection closes, reason kLocal") {
            CHECK(h.backend.TakeOps() == Ops{"close close"});
            CHECK(h.seen.events == Ops{"open", "data quit", "close"});
            CHECK(h.closed() == CloseReason::Kind::kLocal);
            h.loop.EndIteration();
            CHECK_FALSE(h.live());
            h.loop.Advance(absl::Seconds(10));  // the linger timer finds nothing
            CHECK(h.backend.TakeOps().empty());
            CHECK(h.backend.stale_calls() == 0);
          }
        }
      }
    }
  }

  TEST_CASE("Close with nothing queued after the peer's EOF closes at once without lingering") {
    Harness h;
    h.Accept({.on_peer_closed = [](Conn&) { return Action::kNone; }});
    h.conn->OnReadEof();
    CHECK(h.conn->peer_closed());
    CHECK(h.backend.TakeOps() == Ops{"reading off"});
    h.conn->Close();
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.closed() == CloseReason::Kind::kLocal);
    CHECK(h.loop.pending_timers() == 0);  // no linger armed
  }

  TEST_CASE("the peer's EOF closes by default with reason kPeerClosed") {
    Harness h;
    h.Accept();
    h.conn->OnReadEof();
    CHECK(h.backend.TakeOps() == Ops{"reading off", "close close"});
    CHECK(h.seen.events == Ops{"open", "peer-closed", "close"});
    CHECK(h.closed() == CloseReason::Kind::kPeerClosed);
  }

  TEST_CASE("close_linger expiring with output still queued resets the connection, reason kTimeout") {
    EngineOptions options;
    options.close_linger = absl::Seconds(5);
    Harness h(options);
    h.Accept();
    h.backend.set_room(0);
    h.conn->Write("stuck");  // outside a handler: flushed at the iteration's end
    h.conn->Close();
    h.loop.EndIteration();
    CHECK(h.backend.TakeOps() == Ops{"reading off", "send 0/5"});
    h.loop.Advance(absl::Seconds(4));
    CHECK(h.backend.TakeOps().empty());
    CHECK(h.live());
    h.loop.Advance(absl::Seconds(1));
    CHECK(h.backend.TakeOps() == Ops{"close reset"});
    CHECK(h.closed() == CloseReason::Kind::kTimeout);
  }

  TEST_CASE("close_linger expiring after FIN closes without a reset, reason kLocal") {
    EngineOptions options;
    options.close_linger = absl::Seconds(5);
    Harness h(options);
    h.Accept();
    h.conn->Close();
    CHECK(h.backend.TakeOps() == Ops{"shutdown"});  // nothing queued: FIN now
    h.loop.Advance(absl::Seconds(5));
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.closed() == CloseReason::Kind::kLocal);
  }

  TEST_CASE("Abort resets the connection and drops queued output") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "abc"); }});
    h.backend.set_room(0);
    h.conn->OnRead("go");
    CHECK(h.backend.TakeOps() == Ops{"send 0/3"});
    h.conn->Abort();
    CHECK(h.backend.TakeOps() == Ops{"close reset"});
    CHECK(h.sent().empty());
    CHECK(h.seen.events == Ops{"open", "data go", "close"});
    CHECK(h.closed() == CloseReason::Kind::kLocal);
  }

  TEST_CASE("Abort inside a handler sends nothing it wrote") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) {
      c.Write("never sent");
      c.Abort();
      return Action::kNone;
    }});
    h.conn->OnRead("x");
    CHECK(h.backend.TakeOps() == Ops{"close reset"});
    CHECK(h.sent().empty());
    CHECK(h.backend.stale_calls() == 0);
  }

  SCENARIO("ShutdownWrite sends FIN only after queued output and keeps reading") {
    GIVEN("a handler that writes, then shuts down its side, on a full socket") {
      Harness h;
      h.Accept({.on_data = [](Conn& c) {
        if (c.Peek() == "go") {
          c.Write("tail");
          c.ShutdownWrite();
        } else {
          c.Write("ignored");  // after ShutdownWrite
        }
        c.Discard();
        return Action::kNone;
      }});
      h.backend.set_room(0);
      h.conn->OnRead("go");
      CHECK(h.backend.TakeOps() == Ops{"send 0/4"});
      CHECK(h.conn->write_shut_down());

      WHEN("the socket takes the queued bytes") {
        h.backend.set_room(FakeBackend::kUnlimited);
        h.conn->OnSendReady();
        THEN("the FIN follows them and reading stays on") {
          CHECK(h.backend.TakeOps() == Ops{"send 4/4", "shutdown"});
          CHECK(h.sent() == "tail");
        }
        AND_WHEN("the peer sends more") {
          h.backend.TakeOps();
          h.conn->OnRead("more");
          THEN("the handler reads it and its writes are ignored") {
            CHECK(h.seen.events == Ops{"open", "data go", "drain", "data more"});
            CHECK(h.backend.TakeOps().empty());
            CHECK_FALSE(h.conn->closing());
          }
          AND_WHEN("the peer's EOF arrives") {
            h.backend.TakeOps();
            h.conn->OnReadEof();
            THEN("both directions are done: it closes with reason kPeerClosed") {
              CHECK(h.backend.TakeOps() == Ops{"reading off", "close close"});
              CHECK(h.closed() == CloseReason::Kind::kPeerClosed);
            }
          }
        }
      }
    }
  }

  TEST_CASE("OnPeerClosed returning kNone keeps the connection half-open: reading off, writes still go out") {
    Harness h;
    std::string unread_at_eof;
    h.Accept({.on_data = [](Conn&) { return Action::kNone; },  // consumes nothing
              .on_peer_closed = [&](Conn& c) {
                unread_at_eof = std::string(c.Peek());
                return Action::kNone;
              }});
    h.conn->OnRead("ab");
    h.conn->OnReadEof();
    CHECK(unread_at_eof == "ab");
    CHECK(h.backend.TakeOps() == Ops{"reading off"});
    CHECK_FALSE(h.conn->closing());
    h.conn->Write("late");
    h.loop.EndIteration();
    CHECK(h.backend.TakeOps() == Ops{"send 4/4"});
    CHECK(h.sent() == "late");
    CHECK(h.live());
    CHECK_FALSE(h.seen.reason.has_value());
  }

  TEST_CASE("OnHangup with ECONNRESET closes with reason kError") {
    Harness h;
    h.Accept();
    h.conn->OnHangup(ECONNRESET);
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.closed() == CloseReason::Kind::kError);
    CHECK(h.seen.reason.value().error == ECONNRESET);
  }

  TEST_CASE("a hang-up with output queued resets rather than closes") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "pending"); }});
    h.backend.set_room(0);
    h.conn->OnRead("go");
    h.backend.TakeOps();
    h.conn->OnHangup(EPIPE);
    CHECK(h.backend.TakeOps() == Ops{"close reset"});
    CHECK(h.seen.reason.value().error == EPIPE);
  }

  TEST_CASE("a Send that fails closes the connection with its error") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "x"); }});
    h.backend.set_send_error(EPIPE);
    h.conn->OnRead("go");
    CHECK(h.backend.TakeOps() == Ops{absl::StrCat("send error ", EPIPE), "close close"});
    CHECK(h.closed() == CloseReason::Kind::kError);
    CHECK(h.seen.reason.value().error == EPIPE);
  }

  TEST_CASE("idle_timeout closes a connection that neither reads nor writes, and activity defers it") {
    EngineOptions options;
    options.idle_timeout = absl::Seconds(10);
    Harness h(options);
    h.Accept();
    h.loop.Advance(absl::Seconds(5));
    h.conn->OnRead("x");
    h.loop.Advance(absl::Seconds(5));  // 5 s since the read: not idle yet
    CHECK(h.backend.TakeOps().empty());
    CHECK(h.live());
    h.loop.Advance(absl::Seconds(5));
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.closed() == CloseReason::Kind::kIdle);
  }

  TEST_CASE("a dial opens on OnConnected(0) and reports its ref after OnOpen") {
    Harness h;
    std::optional<absl::StatusOr<ActorRef>> result;
    StreamConn* conn = h.Dial(&result);
    CHECK(h.backend.ops() == Ops{"connect"});
    CHECK(h.seen.events.empty());
    conn->OnConnected(0);
    CHECK(h.seen.events == Ops{"open", "dialled"});
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK(**result == conn->ref());
    h.loop.Advance(absl::Seconds(5));  // the dial timeout finds it open
    CHECK(h.backend.TakeOps().empty());
  }

  TEST_CASE("a dial that fails or times out reports why and never opens") {
    Harness h;
    std::optional<absl::StatusOr<ActorRef>> result;
    StreamConn* conn = h.Dial(&result);
    SUBCASE("refused") {
      conn->OnConnected(ECONNREFUSED);
      REQUIRE(result.has_value());
      CHECK(absl::StrContains(result->status().message(), "dial fake://peer"));
      CHECK(result->status().code() != absl::StatusCode::kOk);
    }
    SUBCASE("timed out") {
      h.loop.Advance(absl::Seconds(5));
      REQUIRE(result.has_value());
      CHECK(result->status().code() == absl::StatusCode::kDeadlineExceeded);
    }
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.seen.events == Ops{"dialled"});  // neither OnOpen nor OnClose
    CHECK(h.loop.releases() == 1);
  }

  TEST_CASE("a backend that refuses the socket closes the connection before OnOpen") {
    Harness h;
    h.backend.set_refuse_streams(true);
    h.loop.Accept(std::make_unique<ScriptedHandler>(&h.seen, Script{}));
    CHECK(h.seen.events.empty());
    CHECK(h.loop.releases() == 1);
  }

  TEST_CASE("the loop's stop flushes, sends FIN without a linger timer, and FinishStop closes") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "last"); }});
    h.backend.set_room(0);
    h.conn->OnRead("go");
    h.backend.TakeOps();
    h.loop.stopping = true;  // the stop deadline bounds every close now
    h.conn->BeginStop();
    CHECK(h.backend.TakeOps() == Ops{"reading off"});
    CHECK(h.loop.pending_timers() == 0);
    h.backend.set_room(FakeBackend::kUnlimited);
    h.conn->OnSendReady();
    CHECK(h.backend.TakeOps() == Ops{"send 4/4", "shutdown", "reading on"});
    h.conn->FinishStop();
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.closed() == CloseReason::Kind::kEngineStopped);
  }

  TEST_CASE("the loop's stop cancels a dial still connecting") {
    Harness h;
    std::optional<absl::StatusOr<ActorRef>> result;
    h.Dial(&result)->BeginStop();
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    REQUIRE(result.has_value());
    CHECK(result->status().code() == absl::StatusCode::kCancelled);
    CHECK(h.seen.events == Ops{"dialled"});
  }
}

}  // namespace
}  // namespace actnet::testing
