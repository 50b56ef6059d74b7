// io::Backend's stream contract on real sockets (unix socketpairs, loopback
// TCP), run on every backend: epoll level- and edge-triggered, and
// io_uring. Reads lent to the sink and the EOF, pausing and resuming
// reads (also across the peer's hang-up), short sends and OnSendReady,
// closes as the peer sees them, and completions for handles closed earlier
// in the same batch. What only one backend does is in epoll_backend_test.cc
// and uring_backend_test.cc; listening, connecting and datagram sockets in
// backend_sockets_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/backend.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "doctest/doctest.h"
#include "io/unique_fd.h"
#include "tests/io/backend_testing.h"
#include "tests/testing/common.h"

namespace actnet::io::testing {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

TEST_SUITE("Backend") {
  TEST_CASE_TEMPLATE(
      "reads are lent to the sink and a read of 0 reports OnReadEof", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    PairedStream s(B::kKind);
    auto& [b, peer, log, h] = s;
    Write(peer, "hello");
    REQUIRE(PumpUntil(*b, [&] { return log.read == "hello"; }));
    CHECK(log.eofs == 0);
    REQUIRE(::shutdown(peer.Get(), SHUT_WR) == 0);
    REQUIRE(PumpUntil(*b, [&] { return log.eofs == 1; }));
    Turn(*b);
    CHECK(log.eofs == 1);  // reading is off now
    CHECK(log.hangups.empty());
    CHECK(log.read == "hello");
  }

  TEST_CASE_TEMPLATE("SetReading(kPaused) stops reads and kOn resumes them", B,
                     EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    PairedStream s(B::kKind);
    auto& [b, peer, log, h] = s;
    Turn(*b);
    b->SetReading(h, Reading::kPaused);
    Write(peer, "while paused");  // in the kernel at once (a socketpair)
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
    CHECK(log.reads == 0);
    b->SetReading(h, Reading::kOn);
    REQUIRE(PumpUntil(*b, [&] { return log.read == "while paused"; }));
    CHECK_FALSE(b->HasPending());
    Write(peer, ", and after");
    REQUIRE(
        PumpUntil(*b, [&] { return log.read == "while paused, and after"; }));
  }

  TEST_CASE_TEMPLATE(
      "SetReading(kPaused) then kOn in the same turn: reading goes on", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    PairedStream s(B::kKind);
    auto& [b, peer, log, h] = s;
    Write(peer, "before");
    REQUIRE(PumpUntil(*b, [&] { return log.read == "before"; }));
    b->SetReading(h, Reading::kPaused);
    b->SetReading(h, Reading::kOn);
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
    Write(peer, ", after");
    REQUIRE(PumpUntil(*b, [&] { return log.read == "before, after"; }));
  }

  TEST_CASE_TEMPLATE(
      "a hang-up while reading is paused: resuming delivers the unread bytes, "
      "then the EOF",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    PairedStream s(B::kKind);
    auto& [b, peer, log, h] = s;
    Turn(*b);
    b->SetReading(h, Reading::kPaused);
    Write(peer, "last words");
    peer.Reset();
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
    CHECK(log.reads == 0);
    CHECK(log.eofs == 0);
    CHECK(log.hangups.empty());
    b->SetReading(h, Reading::kOn);
    REQUIRE(PumpUntil(*b, [&] { return log.eofs == 1; }));
    CHECK(log.read == "last words");
    CHECK(log.read_at_eof == log.read.size());
    // The peer hung up, it did not fail: epoll may also report the plain
    // hang-up (OnHangup(0)); io_uring leaves it to the EOF.
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
    CHECK(std::count(log.hangups.begin(), log.hangups.end(), 0) ==
          static_cast<ptrdiff_t>(log.hangups.size()));
  }

  // More than any backend holds: the epoll backend writes until the socket
  // buffer is full; the io_uring backend does too (a large Send with
  // nothing staged) and stages up to its send_staging_limit (64 KiB) more.
  TEST_CASE_TEMPLATE(
      "a Send the backend cannot take whole returns fewer bytes, and one "
      "OnSendReady follows",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    PairedStream s(B::kKind);
    auto& [b, peer, log, h] = s;
    Turn(*b);  // the edge-triggered registration's first writable edge
    const std::string big(4 << 20, 'y');
    iovec iov{const_cast<char*>(big.data()), big.size()};
    const ssize_t n = b->Send(h, &iov, 1);
    REQUIRE(n >= 0);
    CHECK(static_cast<size_t>(n) < big.size());
    if constexpr (kIsEpoll<B>) {
      // It wrote until EAGAIN: nothing frees room before the peer reads.
      // (io_uring's staged bytes may still be moving into the socket.)
      Turn(*b);
      CHECK(log.send_ready == 0);
    }
    size_t received = 0;
    REQUIRE(PumpUntil(*b, [&] {
      received += DrainNow(peer);
      return log.send_ready == 1 && received == static_cast<size_t>(n);
    }));
    Turn(*b, 10);
    received += DrainNow(peer);
    CHECK(received == static_cast<size_t>(n));
    CHECK(log.send_ready == 1);  // one per short Send
  }

  TEST_CASE_TEMPLATE(
      "Close(kReset) makes the peer see ECONNRESET, Close(kClose) an EOF", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    for (CloseMode mode : {CloseMode::kReset, CloseMode::kClose}) {
      CAPTURE(static_cast<int>(mode));
      auto b = MakeBackend(B::kKind);
      Pair tcp = TcpPair();
      StreamLog log;
      const Handle h = AddStream(*b, std::move(tcp.b), &log);
      Turn(*b);
      b->Close(h, mode);
      // A completion backend closes the fd once the operations it had in
      // flight end, which the loop's next turns tell it.
      REQUIRE(PumpUntil(
          *b, [&] { return Ready(tcp.a.Get(), POLLIN); }, 10));
      char c;
      const ssize_t n = ::recv(tcp.a.Get(), &c, 1, 0);
      const int err = n < 0 ? errno : 0;
      if (mode == CloseMode::kReset) {
        CHECK(n == -1);
        CHECK(err == ECONNRESET);
      } else {
        CHECK(n == 0);
      }
      CHECK(log.reads == 0);
      CHECK(log.hangups.empty());  // nothing is told after Close
    }
  }

  TEST_CASE_TEMPLATE(
      "a completion for a handle closed earlier in the same batch is not "
      "dispatched",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    Pair p1 = MakePair();
    Pair p2 = MakePair();
    Pair p3 = MakePair();
    StreamLog log1, log2, log3;
    const Handle h1 = AddStream(*b, std::move(p1.a), &log1, 1);
    const Handle h2 = AddStream(*b, std::move(p2.a), &log2, 2);
    Write(p1.b, "1");
    Write(p2.b, "2");
    // Whichever is dispatched first closes the other, and a new
    // registration may take its slot.
    auto close_other = [&](Handle other) {
      return [&, other] {
        b->Close(other, CloseMode::kClose);
        AddStream(*b, std::move(p3.a), &log3, 3);
      };
    };
    log1.on_read = close_other(h2);
    log2.on_read = close_other(h1);
    // Both reads in one batch (a completion backend may report them over
    // more than one look).
    Completion events[8];
    int n = b->Poll(absl::MakeSpan(events), 100);
    const testutil::Clock::time_point deadline =
        testutil::Clock::now() + std::chrono::seconds(10);
    while (n < 2 && testutil::Clock::now() < deadline)
      n = b->PollMore(absl::MakeSpan(events), n);
    REQUIRE(n == 2);
    CHECK(b->OwnerOf(events[0]) + b->OwnerOf(events[1]) == 3);
    b->Dispatch(events[0]);
    CHECK(b->OwnerOf(events[1]) == Backend::kNoOwner);
    b->Dispatch(events[1]);  // a careless loop: still nothing
    CHECK(log1.reads + log2.reads == 1);
    CHECK(log3.reads == 0);
    b->Close(log1.reads == 1 ? h1 : h2, CloseMode::kClose);
    b->Close(log3.handle, CloseMode::kClose);
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io::testing
