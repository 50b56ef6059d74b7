// EpollBackend's streams on real sockets (unix socketpairs, loopback TCP),
// level-triggered and edge-triggered: reads lent to the sink and the EOF,
// pausing and resuming reads (edge-triggered: a deferred read the backend
// owes itself), the per-turn read bound, short sends and OnSendReady, a
// hang-up while reading is paused, resets, and completions for handles
// closed earlier in the same batch. Listening, connecting and datagram
// sockets are in epoll_backend_sockets_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/epoll_backend.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>

#include "doctest/doctest.h"
#include "io/backend.h"
#include "io/unique_fd.h"
#include "tests/io/backend_testing.h"
#include "tests/testing/common.h"

namespace actnet::io::testing {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

TEST_SUITE("EpollBackend") {
  TEST_CASE("reads are lent to the sink and a read of 0 reports OnReadEof") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      PairedStream s(edge);
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
  }

  TEST_CASE("SetReading(kPaused) stops reads and kOn resumes them") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      PairedStream s(edge);
      auto& [b, peer, log, h] = s;
      Turn(*b);
      b->SetReading(h, Reading::kPaused);
      Write(peer, "while paused");  // in the kernel at once (a socketpair)
      Turn(*b);
      CHECK(log.reads == 0);
      CHECK_FALSE(b->HasPending());
      b->SetReading(h, Reading::kOn);
      // Edge-triggered: the bytes raise no new edge, so the backend owes a
      // read of its own, reported by the next Poll.
      CHECK(b->HasPending() == edge);
      REQUIRE(PumpUntil(*b, [&] { return log.read == "while paused"; }));
      CHECK_FALSE(b->HasPending());
    }
  }

  TEST_CASE("an edge-triggered stream reads at most kReadsPerTurn buffers per turn and defers the rest") {
    constexpr size_t kChunk = 16;
    constexpr int kChunks = EpollBackend::kReadsPerTurn + 4;
    PairedStream s(/*edge=*/true, kChunk);
    auto& [b, peer, log, h] = s;
    Write(peer, std::string(kChunk * kChunks, 'x'));
    Turn(*b);
    CHECK(log.reads == EpollBackend::kReadsPerTurn);
    CHECK(b->HasPending());
    Turn(*b);  // the deferred read, with no new edge from the kernel
    CHECK(log.reads == kChunks);
    CHECK(log.read.size() == kChunk * kChunks);
    CHECK_FALSE(b->HasPending());
  }

  TEST_CASE("a level-triggered stream reads once per readiness event") {
    PairedStream s(/*edge=*/false, 16);
    auto& [b, peer, log, h] = s;
    Write(peer, std::string(64, 'x'));
    CHECK(Turn(*b) == 1);
    CHECK(log.reads == 1);
    CHECK_FALSE(b->HasPending());
    REQUIRE(PumpUntil(*b, [&] { return log.read.size() == 64; }));
    CHECK(log.reads == 4);
  }

  TEST_CASE("a Send the socket cannot take whole returns fewer bytes, and OnSendReady follows once the peer reads") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      PairedStream s(edge);
      auto& [b, peer, log, h] = s;
      Turn(*b);  // the edge-triggered registration's first writable edge
      const std::string big(4 << 20, 'y');
      iovec iov{const_cast<char*>(big.data()), big.size()};
      const ssize_t n = b->Send(h, &iov, 1);
      REQUIRE(n >= 0);
      CHECK(static_cast<size_t>(n) < big.size());
      Turn(*b);
      CHECK(log.send_ready == 0);  // still full
      size_t received = DrainNow(peer);
      REQUIRE(PumpUntil(*b, [&] { return log.send_ready == 1; }));
      received += DrainNow(peer);
      CHECK(received == static_cast<size_t>(n));
      Turn(*b);
      CHECK(log.send_ready == 1);  // one per short Send
    }
  }

  TEST_CASE("a hang-up while reading is paused parks the stream; resuming delivers the unread bytes, then the EOF") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      PairedStream s(edge);
      auto& [b, peer, log, h] = s;
      Turn(*b);
      b->SetReading(h, Reading::kPaused);
      Write(peer, "last words");
      peer.Reset();
      CHECK(Turn(*b) == 1);  // the hang-up, told to nobody yet
      // Parked: level-triggered epoll no longer reports the hang-up.
      CHECK(Turn(*b) == 0);
      CHECK(log.reads == 0);
      CHECK(log.eofs == 0);
      CHECK(log.hangups.empty());
      b->SetReading(h, Reading::kOn);
      REQUIRE(PumpUntil(*b, [&] { return log.eofs == 1; }));
      CHECK(log.read == "last words");
      CHECK(log.hangups.empty());
    }
  }

  TEST_CASE("Close(kReset) makes the peer see ECONNRESET, Close(kClose) an EOF") {
    for (CloseMode mode : {CloseMode::kReset, CloseMode::kClose}) {
      CAPTURE(static_cast<int>(mode));
      auto b = MakeBackend(false);
      Pair tcp = TcpPair();
      StreamLog log;
      const Handle h = AddStream(*b, std::move(tcp.b), &log);
      b->Close(h, mode);
      REQUIRE(WaitFd(tcp.a.Get(), POLLIN));
      char c;
      const ssize_t n = ::recv(tcp.a.Get(), &c, 1, 0);
      const int err = n < 0 ? errno : 0;
      if (mode == CloseMode::kReset) {
        CHECK(n == -1);
        CHECK(err == ECONNRESET);
      } else {
        CHECK(n == 0);
      }
    }
  }

  TEST_CASE("a completion for a handle closed earlier in the same batch is not dispatched") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      auto b = MakeBackend(edge);
      Pair p1 = MakePair();
      Pair p2 = MakePair();
      Pair p3 = MakePair();
      StreamLog log1, log2, log3;
      const Handle h1 = AddStream(*b, std::move(p1.a), &log1, 1);
      const Handle h2 = AddStream(*b, std::move(p2.a), &log2, 2);
      Write(p1.b, "1");
      Write(p2.b, "2");
      // Whichever is dispatched first closes the other, whose slot a new
      // registration then takes.
      auto close_other = [&](Handle other) {
        return [&, other] {
          b->Close(other, CloseMode::kClose);
          AddStream(*b, std::move(p3.a), &log3, 3);
        };
      };
      log1.on_read = close_other(h2);
      log2.on_read = close_other(h1);
      Completion events[8];
      REQUIRE(b->Poll(absl::MakeSpan(events), 0) == 2);
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
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io::testing
