// Multicast: the ?multicast_if=N address option (parse, validation,
// canonical round trip) and a UDP listener on a group address joining it on
// that interface. Delivery is tested only inside a network namespace this
// test creates for itself (unshare(CLONE_NEWNET), its own loopback up, a
// 224.0.0.0/4 route on it), never on the machine's shared interfaces; where
// namespaces are not permitted those cases are skipped with a message.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "io/address.h"
#include "tests/transport/transport_testing.h"

namespace actnet::transport {
namespace {

void ExpectInvalid(const std::string& url, absl::string_view problem) {
  absl::StatusOr<io::Address> a = io::ParseAddress(url);
  CAPTURE(url);
  REQUIRE_FALSE(a.ok());
  CAPTURE(a.status().ToString());
  CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(a.status().message(), url));
  CHECK(absl::StrContains(a.status().message(), problem));
}

TEST_SUITE("multicast_if option") {
  TEST_CASE("parses, and the canonical URL round-trips") {
    for (const char* url : {"udp://239.1.2.3:5000?multicast_if=1",
                            "udp4://224.0.0.251:5353?multicast_if=7",
                            "udp6://[ff15::1234]:5000?multicast_if=3",
                            "udp://239.1.2.3:5000?reuseport=true&multicast_if=12"}) {
      CAPTURE(url);
      absl::StatusOr<io::Address> a = io::ParseAddress(url);
      REQUIRE(a.ok());
      CHECK(a->ToString() == url);
      absl::StatusOr<io::Address> again = io::ParseAddress(a->ToString());
      REQUIRE(again.ok());
      CHECK(*again == *a);
    }
    absl::StatusOr<io::Address> a = io::ParseAddress("udp://239.1.2.3:5000?multicast_if=42");
    REQUIRE(a.ok());
    CHECK(a->options.multicast_if == 42);
    CHECK(a->host == "239.1.2.3");
    CHECK(a->port == 5000);
  }

  TEST_CASE("defaults to 0 (the kernel's choice), which the URL omits") {
    absl::StatusOr<io::Address> a = io::ParseAddress("udp://239.1.2.3:5000");
    REQUIRE(a.ok());
    CHECK(a->options.multicast_if == 0);
    CHECK(a->ToString() == "udp://239.1.2.3:5000");
    a = io::ParseAddress("udp://239.1.2.3:5000?multicast_if=0");
    REQUIRE(a.ok());
    CHECK(a->ToString() == "udp://239.1.2.3:5000");
  }

  TEST_CASE("bad values and misplaced uses are InvalidArgument") {
    ExpectInvalid("udp://239.1.2.3:5000?multicast_if=lo", "multicast_if");
    ExpectInvalid("udp://239.1.2.3:5000?multicast_if=-1", "multicast_if");
    ExpectInvalid("udp://239.1.2.3:5000?multicast_if=", "multicast_if");
    ExpectInvalid("udp://239.1.2.3:5000?multicast_if=1234567890", "multicast_if");
    ExpectInvalid("tcp://239.1.2.3:5000?multicast_if=1", "multicast");
    ExpectInvalid("udp://127.0.0.1:5000?multicast_if=1", "multicast group");
    ExpectInvalid("unix:///tmp/x.sock?multicast_if=1", "multicast");
  }

  TEST_CASE("IsMulticastHost knows 224.0.0.0/4 and ff00::/8") {
    CHECK(io::IsMulticastHost("224.0.0.1"));
    CHECK(io::IsMulticastHost("239.255.255.255"));
    CHECK(io::IsMulticastHost("ff02::1"));
    CHECK_FALSE(io::IsMulticastHost("223.255.255.255"));
    CHECK_FALSE(io::IsMulticastHost("240.0.0.1"));
    CHECK_FALSE(io::IsMulticastHost("127.0.0.1"));
    CHECK_FALSE(io::IsMulticastHost("::1"));
    CHECK_FALSE(io::IsMulticastHost("localhost"));
    CHECK_FALSE(io::IsMulticastHost(""));
  }
}

// ---------------------------------------------------------------------------
// In a private network namespace.

// Moves this thread (and so every thread it creates later: the engine's
// loops) into a new network namespace with loopback up, multicast on it and
// a 224.0.0.0/4 route through it. Once per process; false if not permitted.
bool EnterPrivateNetns(std::string* why) {
  static int state = 0;  // 0 untried, 1 entered, -1 refused
  static std::string reason;
  if (state == 0) {
    state = -1;
    if (::unshare(CLONE_NEWNET) != 0) {
      reason = absl::StrCat("unshare(CLONE_NEWNET): ", std::strerror(errno));
    } else {
      io::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
      rtentry rt{};
      auto* dst = reinterpret_cast<sockaddr_in*>(&rt.rt_dst);
      auto* mask = reinterpret_cast<sockaddr_in*>(&rt.rt_genmask);
      dst->sin_family = mask->sin_family = AF_INET;
      dst->sin_addr.s_addr = htonl(0xE0000000u);
      mask->sin_addr.s_addr = htonl(0xF0000000u);
      rt.rt_flags = RTF_UP;
      char lo[] = "lo";
      rt.rt_dev = lo;
      if (::ioctl(s.Get(), SIOCGIFFLAGS, &ifr) != 0) {
        reason = absl::StrCat("SIOCGIFFLAGS lo: ", std::strerror(errno));
      } else if (ifr.ifr_flags |= IFF_UP | IFF_MULTICAST,
                 ::ioctl(s.Get(), SIOCSIFFLAGS, &ifr) != 0) {
        reason = absl::StrCat("SIOCSIFFLAGS lo: ", std::strerror(errno));
      } else if (::ioctl(s.Get(), SIOCADDRT, &rt) != 0) {
        reason = absl::StrCat("SIOCADDRT 224.0.0.0/4 dev lo: ", std::strerror(errno));
      } else {
        state = 1;
      }
    }
  }
  *why = reason;
  return state == 1;
}

#define REQUIRE_PRIVATE_NETNS()                                                \
  do {                                                                         \
    std::string why;                                                           \
    if (!EnterPrivateNetns(&why)) {                                            \
      MESSAGE("SKIPPED: no private network namespace here (", why,             \
              "); multicast is never tested on shared interfaces");            \
      return;                                                                  \
    }                                                                          \
  } while (0)

class Echo final : public Handler {
 public:
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
};

// A UDP socket bound to 127.0.0.1 that sends multicast out of loopback.
io::UniqueFd MulticastSender(int ifindex) {
  io::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd.Get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0);
  ip_mreqn m{};
  m.imr_ifindex = ifindex;
  REQUIRE(::setsockopt(fd.Get(), IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m)) == 0);
  return fd;
}

sockaddr_in Group(const char* ip, uint16_t port) {
  sockaddr_in g{};
  g.sin_family = AF_INET;
  g.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &g.sin_addr);
  return g;
}

TEST_SUITE("multicast in a private network namespace") {
  TEST_CASE("a listener on a group joins it on multicast_if and echoes each datagram once") {
    REQUIRE_PRIVATE_NETNS();
    const int fds_before = CountOpenFds();
    {
      const int lo = static_cast<int>(::if_nametoindex("lo"));
      REQUIRE(lo > 0);
      Engine engine(EngineOptions{.loops = 1});
      REQUIRE(engine.Listen<Echo>(absl::StrCat("udp://239.1.2.3:0?multicast_if=", lo)).ok());
      absl::Status s = engine.Start();
      INFO(s.ToString());
      REQUIRE(s.ok());
      const std::string url = engine.ListenAddresses().at(0);
      CHECK(absl::StartsWith(url, "udp://239.1.2.3:"));
      const uint16_t port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
      io::UniqueFd sender = MulticastSender(lo);
      const sockaddr_in group = Group("239.1.2.3", port);
      const Clock::time_point deadline = Clock::now() + seconds(10);
      for (int i = 0; i < 100; ++i) {
        const std::string msg = "to the group " + std::to_string(i);
        REQUIRE(::sendto(sender.Get(), msg.data(), msg.size(), 0,
                         reinterpret_cast<const sockaddr*>(&group), sizeof(group)) ==
                ssize_t(msg.size()));
        bool ok = false;
        CHECK(RecvDatagram(sender.Get(), deadline, &ok) == msg);
        REQUIRE(ok);
      }
      char c;
      CHECK(::recv(sender.Get(), &c, 1, MSG_DONTWAIT) < 0);  // exactly one reply each
      // A datagram to another group on the same port is not for it.
      const sockaddr_in other = Group("239.1.2.4", port);
      REQUIRE(::sendto(sender.Get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&other),
                       sizeof(other)) == 1);
      REQUIRE(::sendto(sender.Get(), "y", 1, 0, reinterpret_cast<const sockaddr*>(&group),
                       sizeof(group)) == 1);
      bool ok = false;
      CHECK(RecvDatagram(sender.Get(), deadline, &ok) == "y");
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("with two loops every loop's socket is a member of the group") {
    REQUIRE_PRIVATE_NETNS();
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    Engine engine(EngineOptions{.loops = 2});
    REQUIRE(engine.Listen<Echo>(absl::StrCat("udp://239.1.2.5:0?multicast_if=", lo)).ok());
    REQUIRE(engine.Start().ok());
    const std::string url = engine.ListenAddresses().at(0);
    const uint16_t port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    io::UniqueFd sender = MulticastSender(lo);
    const sockaddr_in group = Group("239.1.2.5", port);
    REQUIRE(::sendto(sender.Get(), "hi", 2, 0, reinterpret_cast<const sockaddr*>(&group),
                     sizeof(group)) == 2);
    // Multicast goes to every member socket, SO_REUSEPORT or not: one echo
    // per loop (as with gnet's per-loop UDP sockets).
    const Clock::time_point deadline = Clock::now() + seconds(10);
    bool ok = false;
    CHECK(RecvDatagram(sender.Get(), deadline, &ok) == "hi");
    CHECK(RecvDatagram(sender.Get(), deadline, &ok) == "hi");
    CHECK(ok);
  }

  TEST_CASE("udp6 joins an IPv6 group on the given interface") {
    REQUIRE_PRIVATE_NETNS();
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    Engine engine(EngineOptions{.loops = 1});
    REQUIRE(engine.Listen<Echo>(absl::StrCat("udp6://[ff15::4321]:0?multicast_if=", lo)).ok());
    absl::Status s = engine.Start();
    INFO(s.ToString());
    REQUIRE(s.ok());
    // Loopback in a fresh namespace does not deliver IPv6 multicast back,
    // so this checks the membership itself, as the kernel lists it.
    std::ifstream igmp6("/proc/self/net/igmp6");
    std::string line;
    bool member = false;
    while (std::getline(igmp6, line)) {
      if (absl::StrContains(line, "ff150000000000000000000000004321") &&
          absl::StrContains(line, " lo ")) {
        member = true;
      }
    }
    CHECK(member);
  }

  TEST_CASE("joining on an interface that does not exist fails Start, naming the address") {
    REQUIRE_PRIVATE_NETNS();
    Engine engine(EngineOptions{.loops = 1});
    REQUIRE(engine.Listen<Echo>("udp://239.1.2.6:0?multicast_if=99999").ok());
    absl::Status s = engine.Start();
    CAPTURE(s.ToString());
    CHECK_FALSE(s.ok());
    CHECK(absl::StrContains(s.message(), "IP_ADD_MEMBERSHIP"));
    CHECK(absl::StrContains(s.message(), "239.1.2.6"));
  }
}

}  // namespace
}  // namespace actnet::transport
