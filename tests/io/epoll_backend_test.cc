// What only the EpollBackend does, level-triggered and edge-triggered, on
// unix socketpairs: the read it owes itself when an edge-triggered stream
// resumes, the per-turn read bound, one read per level-triggered event, and
// a hang-up while reading is paused parking the registration. The stream
// contract every backend keeps is in backend_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/epoll_backend.h"

#include <string>

#include "doctest/doctest.h"
#include "io/backend.h"
#include "tests/io/backend_testing.h"
#include "tests/testing/common.h"

namespace actnet::io::testing {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

TEST_SUITE("EpollBackend") {
  TEST_CASE(
      "resuming an edge-triggered stream owes a read of its own (HasPending); "
      "level-triggered does not") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      PairedStream s(edge);
      auto& [b, peer, log, h] = s;
      Turn(*b);
      b->SetReading(h, Reading::kPaused);
      Write(peer, "while paused");
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

  TEST_CASE(
      "an edge-triggered stream reads at most kReadsPerTurn buffers per turn "
      "and defers the rest") {
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

  TEST_CASE(
      "a hang-up while reading is paused parks the registration: no more "
      "events until resumed") {
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
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io::testing
