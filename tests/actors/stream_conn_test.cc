// StreamConn's data path without sockets: a FakeBackend records what the
// connection asks of its socket and scripts how much each send takes, and
// the test plays the socket's outcomes (bytes read, room to send) into the
// connection's sink callbacks. Gathered writes, short sends and OnDrain,
// back-pressure, held and unconsumed input, AsyncWrite completions. That it
// all runs on a backend that is not epoll is the point of io::Backend.
// Closing is in stream_conn_close_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "actors/stream_conn.h"

#include <errno.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "actors/envelope.h"
#include "actors/handler.h"
#include "actors/options.h"
#include "doctest/doctest.h"
#include "tests/actors/conn_harness.h"
#include "tests/actors/fake_backend.h"

namespace actnet::testing {
namespace {

using internal::StreamConn;

// Back-pressure above 10 queued bytes, until 4 or fewer are left.
EngineOptions WaterMarks() {
  EngineOptions options;
  options.write_high_water = 10;
  options.write_low_water = 4;
  return options;
}

// Accepts a connection whose handler answers "go" with 11 bytes, which a
// full socket leaves queued: above the high-water mark, reading pauses.
void QueuePastHighWater(Harness& h) {
  h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "0123456789A"); }});
  h.backend.set_room(0);
  h.conn->OnRead("go");
  REQUIRE(h.backend.TakeOps() == Ops{"send 0/11", "reading paused"});
}

TEST_SUITE("StreamConn") {
  TEST_CASE("an accepted connection registers with the backend and opens") {
    Harness h;
    h.Accept();
    CHECK(h.backend.ops() == Ops{"add"});
    CHECK(h.seen.events == Ops{"open"});
    CHECK_FALSE(h.conn->closing());
  }

  TEST_CASE("writes in a handler are gathered and sent in one Send when the handler returns") {
    Harness h;
    size_t ops_during_handler = 0;
    h.Accept({.on_data = [&](Conn& c) {
      c.Write("<");
      c.Write(c.Next());  // a view of the lent inbound bytes
      c.Write(">");
      ops_during_handler = h.backend.ops().size();
      return Action::kNone;
    }});
    const size_t ops_before = h.backend.ops().size();
    h.conn->OnRead("abc");
    CHECK(ops_during_handler == ops_before);  // nothing sent inside it
    CHECK(h.backend.TakeOps() == Ops{"send 5/5"});
    CHECK(h.backend.send_iovecs() == std::vector<int>{3});
    CHECK(h.sent() == "<abc>");
    CHECK(h.conn->OutboundBytes() == 0);
  }

  TEST_CASE("a short Send queues the rest, OnSendReady flushes it, then OnDrain fires") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "hello world"); }});
    h.backend.set_room(3);
    h.conn->OnRead("go");
    CHECK(h.backend.TakeOps() == Ops{"send 3/11"});
    CHECK(h.conn->OutboundBytes() == 8);
    CHECK(h.backend.last().send_ready_owed);
    CHECK(h.seen.events == Ops{"open", "data go"});

    h.backend.set_room(FakeBackend::kUnlimited);
    h.conn->OnSendReady();
    CHECK(h.backend.TakeOps() == Ops{"send 8/8"});
    CHECK(h.sent() == "hello world");
    CHECK(h.conn->OutboundBytes() == 0);
    CHECK(h.seen.events == Ops{"open", "data go", "drain"});
  }

  TEST_CASE("output written while output is queued goes behind it, in order") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) {
      c.Write(c.Next());
      return Action::kNone;
    }});
    h.backend.set_room(2);
    h.conn->OnRead("first ");
    h.conn->OnRead("second");
    CHECK(h.conn->OutboundBytes() == 10);
    h.backend.set_room(FakeBackend::kUnlimited);
    h.conn->OnSendReady();
    CHECK(h.sent() == "first second");
  }

  TEST_CASE("queued output above write_high_water pauses reading and below write_low_water resumes it") {
    Harness h(WaterMarks());
    QueuePastHighWater(h);

    h.backend.set_room(2);  // 9 queued: still above the low-water mark
    h.conn->OnSendReady();
    CHECK(h.backend.TakeOps() == Ops{"send 2/11"});

    h.backend.set_room(5);  // 4 queued: at the low-water mark
    h.conn->OnSendReady();
    CHECK(h.backend.TakeOps() == Ops{"send 5/9", "reading on"});
    CHECK(h.conn->OutboundBytes() == 4);
  }

  TEST_CASE("bytes a backend delivers while reading is held reach the handler once it resumes") {
    Harness h(WaterMarks());
    QueuePastHighWater(h);
    h.conn->OnRead("held");  // a completion backend may still deliver some
    CHECK(h.seen.events == Ops{"open", "data go"});

    h.backend.set_room(FakeBackend::kUnlimited);
    h.conn->OnSendReady();
    CHECK(h.backend.TakeOps() == Ops{"send 11/11", "reading on"});
    h.loop.EndIteration();
    CHECK(h.seen.events == Ops{"open", "data go", "drain", "data held"});
  }

  TEST_CASE("PauseReading pauses the backend's reads and ResumeReading resumes them") {
    Harness h;
    h.Accept();
    h.conn->PauseReading();
    CHECK(h.conn->reading_paused());
    CHECK(h.backend.TakeOps() == Ops{"reading paused"});
    h.conn->ResumeReading();
    CHECK(h.backend.TakeOps() == Ops{"reading on"});
    h.conn->ResumeReading();  // not paused: nothing to do
    CHECK(h.backend.TakeOps().empty());
  }

  TEST_CASE("an AsyncWrite's callback fires OK once its bytes are all sent") {
    Harness h;
    h.Accept();
    std::vector<absl::Status> done;
    h.backend.set_room(3);
    Envelope message = AsyncWrite(h.ref, "payload", RecordInto(&done));
    REQUIRE(h.loop.Deliver(message));
    CHECK(h.backend.TakeOps() == Ops{"send 3/7"});
    CHECK(done.empty());
    h.backend.set_room(FakeBackend::kUnlimited);
    h.conn->OnSendReady();
    REQUIRE(done.size() == 1);
    CHECK(done[0].ok());
    CHECK(h.sent() == "payload");
    h.conn->OnSendReady();  // nothing more to send or to report
    CHECK(done.size() == 1);
  }

  TEST_CASE("an AsyncWrite's callback fails once when the connection closes before the bytes are sent") {
    Harness h;
    h.Accept();
    std::vector<absl::Status> done;
    h.backend.set_room(0);
    Envelope message = AsyncWrite(h.ref, "payload", RecordInto(&done));
    REQUIRE(h.loop.Deliver(message));
    CHECK(done.empty());
    h.conn->Abort();
    REQUIRE(done.size() == 1);
    CHECK(done[0].code() == absl::StatusCode::kFailedPrecondition);
    message.Reset();  // its callback was moved out: it reports nothing more
    h.loop.EndIteration();
    CHECK(done.size() == 1);
  }

  TEST_CASE("an AsyncWrite to a closing or closed connection fails its callback") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) { return WriteOnce(c, "reply"); }});
    std::vector<absl::Status> done;
    h.backend.set_room(0);
    h.conn->OnRead("go");
    h.conn->Close();  // closing: the reply is still queued
    Envelope to_closing = AsyncWrite(h.ref, "more", RecordInto(&done));
    REQUIRE(h.loop.Deliver(to_closing));
    REQUIRE(done.size() == 1);
    CHECK(done[0].code() == absl::StatusCode::kFailedPrecondition);

    h.conn->Abort();
    h.loop.EndIteration();
    Envelope to_closed = AsyncWrite(h.ref, "more", RecordInto(&done));
    CHECK_FALSE(h.loop.Deliver(to_closed));  // a dead letter
    to_closed.Reset();
    REQUIRE(done.size() == 2);
    CHECK(done[1].code() == absl::StatusCode::kFailedPrecondition);
  }

  TEST_CASE("inbound bytes the handler leaves unconsumed are kept for the next OnData") {
    Harness h;
    std::vector<std::string> lines;
    h.Accept({.on_data = [&](Conn& c) {
      const size_t eol = c.Peek().find('\n');
      if (eol != absl::string_view::npos) lines.emplace_back(c.Next(eol + 1));
      return Action::kNone;
    }});
    h.conn->OnRead("ab");
    CHECK(h.conn->InboundBytes() == 2);
    h.conn->OnRead("c\nd");
    CHECK(lines == std::vector<std::string>{"abc\n"});
    CHECK(h.conn->InboundBytes() == 1);
    CHECK(h.seen.events == Ops{"open", "data ab", "data abc\nd"});
  }

  TEST_CASE("unconsumed input past max_inbound_buffer closes with reason kInboundLimit") {
    EngineOptions options;
    options.max_inbound_buffer = 8;
    Harness h(options);
    h.Accept({.on_data = [](Conn&) { return Action::kNone; }});
    h.conn->OnRead("12345");
    h.conn->OnRead("678");  // exactly at the limit: allowed
    CHECK_FALSE(h.conn->closing());
    CHECK(h.backend.TakeOps().empty());
    h.conn->OnRead("9");
    CHECK(h.backend.TakeOps() == Ops{"close close"});
    CHECK(h.closed() == CloseReason::Kind::kInboundLimit);
  }

  TEST_CASE("Action::kShutdown asks the loop to stop the engine") {
    Harness h;
    h.Accept({.on_data = [](Conn&) { return Action::kShutdown; }});
    h.conn->OnRead("stop");
    CHECK(h.loop.stop_requests() == 1);
    CHECK_FALSE(h.conn->closing());
  }
}

TEST_SUITE("FakeBackend") {
  TEST_CASE("a completion backend drives a connection through Poll and Dispatch unchanged") {
    Harness h;
    h.Accept({.on_data = [](Conn& c) {
      c.Write(c.Next());
      return Action::kNone;
    }});
    h.backend.QueueRead(h.handle, "ping");
    h.backend.QueueHangup(h.handle, ECONNRESET);
    h.backend.QueueRead(h.handle, "after the hang-up");
    CHECK(h.backend.HasPending());
    CHECK(h.loop.RunIteration() == 3);
    CHECK_FALSE(h.backend.HasPending());
    CHECK(h.sent() == "ping");
    // The last read's handle was closed earlier in the batch: not delivered.
    CHECK(h.seen.events == Ops{"open", "data ping", "close"});
    CHECK(h.seen.reason.value().error == ECONNRESET);
    CHECK_FALSE(h.live());
    CHECK(h.backend.stale_calls() == 0);
  }

  TEST_CASE("a completion for a closed handle has no owner") {
    FakeBackend backend;
    Seen seen;
    FakeLoop loop(&backend);
    StreamConn* conn = loop.Accept(std::make_unique<ScriptedHandler>(&seen, Script{}));
    const io::Handle h = backend.last_handle();
    backend.QueueRead(h, "x");
    io::Completion c[1];
    REQUIRE(backend.Poll(absl::MakeSpan(c), 0) == 1);
    CHECK(backend.OwnerOf(c[0]) == 0);
    conn->Abort();
    CHECK(backend.OwnerOf(c[0]) == io::Backend::kNoOwner);
    backend.Dispatch(c[0]);
    CHECK(seen.events == Ops{"open", "close"});
  }
}
}  // namespace
}  // namespace actnet::testing
