#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "balance/balancer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "balance/least_connections.h"
#include "balance/round_robin.h"
#include "balance/source_hash.h"
#include "doctest/doctest.h"
#include "tests/testing/common.h"

namespace actnet::balance {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

// A fixed array of per-loop loads, as the runtime keeps them.
template <size_t N>
struct Loads {
  std::atomic<int64_t> values[N] = {};
  absl::Span<const std::atomic<int64_t>> span() const {
    return absl::MakeConstSpan(values, N);
  }
  void Set(size_t i, int64_t v) { values[i].store(v); }
};

sockaddr_in V4(uint32_t ip, uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(ip);
  in.sin_port = htons(port);
  return in;
}

sockaddr_in6 V6(const char* text, uint16_t port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  REQUIRE(::inet_pton(AF_INET6, text, &in6.sin6_addr) == 1);
  in6.sin6_port = htons(port);
  return in6;
}

template <typename T>
const sockaddr* Sa(const T& t) {
  return reinterpret_cast<const sockaddr*>(&t);
}

TEST_SUITE("ParseStrategy") {
  TEST_CASE("the three strategy names parse and round-trip") {
    CHECK(*ParseStrategy("round_robin") == Strategy::kRoundRobin);
    CHECK(*ParseStrategy("least_conn") == Strategy::kLeastConnections);
    CHECK(*ParseStrategy("source_hash") == Strategy::kSourceHash);
    for (Strategy s : {Strategy::kRoundRobin, Strategy::kLeastConnections,
                       Strategy::kSourceHash}) {
      CHECK(*ParseStrategy(StrategyName(s)) == s);
    }
  }

  TEST_CASE("an unknown name is rejected with the valid names listed") {
    absl::StatusOr<Strategy> s = ParseStrategy("random");
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.status().message(), "\"random\""));
    for (const char* name : {"round_robin", "least_conn", "source_hash"}) {
      CHECK(absl::StrContains(s.status().message(), name));
    }
  }
}

TEST_SUITE("RoundRobin") {
  TEST_CASE("loops are picked in an exact cycle") {
    Loads<3> loads;
    loads.Set(0, 100);  // load is ignored
    RoundRobin rr;
    for (int round = 0; round < 4; ++round) {
      for (size_t i = 0; i < 3; ++i) CHECK(rr.Pick(nullptr, 0, loads.span()) == i);
    }
  }

  TEST_CASE("a shrinking loop count never yields an index out of range") {
    RoundRobin rr;
    for (int i = 0; i < 3; ++i) rr.Next(4);  // cursor at 3
    CHECK(rr.Next(2) == 0);
    CHECK(rr.Next(2) == 1);
    CHECK(rr.Next(0) == 0);
  }
}

TEST_SUITE("LeastConnections") {
  TEST_CASE("the loop with the lowest load is picked") {
    Loads<4> loads;
    loads.Set(0, 5);
    loads.Set(1, 3);
    loads.Set(2, 9);
    loads.Set(3, 4);
    LeastConnections lc;
    for (int i = 0; i < 5; ++i) CHECK(lc.Pick(nullptr, 0, loads.span()) == 1);
    loads.Set(1, 10);
    CHECK(lc.Pick(nullptr, 0, loads.span()) == 3);
  }

  TEST_CASE("ties are spread round-robin") {
    Loads<4> loads;
    LeastConnections lc;
    std::vector<size_t> picks;
    for (int i = 0; i < 8; ++i) picks.push_back(lc.Pick(nullptr, 0, loads.span()));
    CHECK(picks == std::vector<size_t>{0, 1, 2, 3, 0, 1, 2, 3});
    // Only loops 1 and 3 are tied for the minimum: they alternate.
    loads.Set(0, 2);
    loads.Set(2, 2);
    picks.clear();
    for (int i = 0; i < 4; ++i) picks.push_back(lc.Pick(nullptr, 0, loads.span()));
    CHECK(picks == std::vector<size_t>{1, 3, 1, 3});
  }

  TEST_CASE("counting the picks as loads keeps the loops even") {
    Loads<3> loads;
    LeastConnections lc;
    for (int i = 0; i < 300; ++i) {
      size_t k = lc.Pick(nullptr, 0, loads.span());
      loads.values[k].fetch_add(1);
    }
    for (size_t i = 0; i < 3; ++i) CHECK(loads.values[i].load() == 100);
  }
}

TEST_SUITE("SourceHash") {
  TEST_CASE("one IP always lands on the same loop whatever the port") {
    Loads<4> loads;
    SourceHash sh;
    sockaddr_in first = V4(0x0a000001, 1000);
    const size_t k = sh.Pick(Sa(first), sizeof(first), loads.span());
    for (uint16_t port = 1001; port < 1100; ++port) {
      sockaddr_in again = V4(0x0a000001, port);
      CHECK(sh.Pick(Sa(again), sizeof(again), loads.span()) == k);
    }
    sockaddr_in6 v6 = V6("2001:db8::1", 1);
    const size_t k6 = sh.Pick(Sa(v6), sizeof(v6), loads.span());
    sockaddr_in6 v6_again = V6("2001:db8::1", 2);
    CHECK(sh.Pick(Sa(v6_again), sizeof(v6_again), loads.span()) == k6);
  }

  TEST_CASE("an IPv4-mapped IPv6 peer hashes like the IPv4 address") {
    sockaddr_in v4 = V4(0xc0a80105, 80);  // 192.168.1.5
    sockaddr_in6 mapped = V6("::ffff:192.168.1.5", 81);
    CHECK(SourceHash::HashPeer(Sa(v4), sizeof(v4)) ==
          SourceHash::HashPeer(Sa(mapped), sizeof(mapped)));
  }

  TEST_CASE("1000 random IPs spread evenly over 4 loops") {
    Loads<4> loads;
    SourceHash sh;
    std::mt19937 rng(7);
    int counts[4] = {};
    for (int i = 0; i < 1000; ++i) {
      sockaddr_in in = V4(static_cast<uint32_t>(rng()), 1234);
      counts[sh.Pick(Sa(in), sizeof(in), loads.span())]++;
    }
    for (int c : counts) {
      CAPTURE(c);
      CHECK(c >= 175);
      CHECK(c <= 325);
    }
  }

  TEST_CASE("sequential IPs also spread evenly") {
    Loads<4> loads;
    SourceHash sh;
    int counts[4] = {};
    for (uint32_t i = 0; i < 1000; ++i) {
      sockaddr_in in = V4(0x0a000000 + i, 1234);
      counts[sh.Pick(Sa(in), sizeof(in), loads.span())]++;
    }
    for (int c : counts) {
      CAPTURE(c);
      CHECK(c >= 175);
      CHECK(c <= 325);
    }
  }

  TEST_CASE("peers without an IP fall back to round-robin") {
    Loads<3> loads;
    SourceHash sh;
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, "/tmp/x");
    sockaddr_in truncated = V4(0x7f000001, 1);
    CHECK(sh.Pick(nullptr, 0, loads.span()) == 0);
    CHECK(sh.Pick(Sa(un), sizeof(un), loads.span()) == 1);
    CHECK(sh.Pick(Sa(truncated), 4, loads.span()) == 2);
    CHECK(sh.Pick(nullptr, 0, loads.span()) == 0);
    CHECK_FALSE(SourceHash::HashPeer(Sa(un), sizeof(un)).has_value());
  }
}

TEST_SUITE("MakeBalancer") {
  TEST_CASE("each strategy behaves as its class through the interface") {
    Loads<3> loads;
    loads.Set(0, 1);
    loads.Set(1, 1);
    std::unique_ptr<Balancer> rr = MakeBalancer(Strategy::kRoundRobin);
    CHECK(rr->Pick(nullptr, 0, loads.span()) == 0);
    CHECK(rr->Pick(nullptr, 0, loads.span()) == 1);
    std::unique_ptr<Balancer> lc = MakeBalancer(Strategy::kLeastConnections);
    CHECK(lc->Pick(nullptr, 0, loads.span()) == 2);
    CHECK(lc->Pick(nullptr, 0, loads.span()) == 2);
    std::unique_ptr<Balancer> sh = MakeBalancer(Strategy::kSourceHash);
    sockaddr_in in = V4(0x7f000001, 5);
    SourceHash direct;
    CHECK(sh->Pick(Sa(in), sizeof(in), loads.span()) ==
          direct.Pick(Sa(in), sizeof(in), loads.span()));
  }

  TEST_CASE("no loops means index 0 from every strategy") {
    absl::Span<const std::atomic<int64_t>> none;
    sockaddr_in in = V4(0x7f000001, 5);
    for (Strategy s : {Strategy::kRoundRobin, Strategy::kLeastConnections,
                       Strategy::kSourceHash}) {
      CHECK(MakeBalancer(s)->Pick(Sa(in), sizeof(in), none) == 0);
    }
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::balance
