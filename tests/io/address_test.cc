#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "doctest/doctest.h"
#include "tests/testing/common.h"

namespace actnet::io {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

Address MustParse(absl::string_view url) {
  absl::StatusOr<Address> a = ParseAddress(url);
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  return *a;
}

// Checks that parsing fails with InvalidArgument and a message that names
// the input and contains `problem`.
void ExpectParseError(absl::string_view url, absl::string_view problem) {
  absl::StatusOr<Address> a = ParseAddress(url);
  CAPTURE(url);
  REQUIRE_FALSE(a.ok());
  std::string message(a.status().message());
  CAPTURE(message);
  CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(message, url));
  CHECK(absl::StrContains(message, problem));
}

TEST_SUITE("Network") {
  TEST_CASE("tcp and unix are streams, udp is datagrams") {
    for (Network n : {Network::kTcp, Network::kTcp4, Network::kTcp6,
                      Network::kUnix}) {
      CHECK(IsStream(n));
      CHECK_FALSE(IsDatagram(n));
    }
    for (Network n : {Network::kUdp, Network::kUdp4, Network::kUdp6}) {
      CHECK(IsDatagram(n));
      CHECK_FALSE(IsStream(n));
    }
  }

  TEST_CASE("names are the URL schemes") {
    CHECK(NetworkName(Network::kTcp) == "tcp");
    CHECK(NetworkName(Network::kTcp4) == "tcp4");
    CHECK(NetworkName(Network::kTcp6) == "tcp6");
    CHECK(NetworkName(Network::kUdp) == "udp");
    CHECK(NetworkName(Network::kUdp4) == "udp4");
    CHECK(NetworkName(Network::kUdp6) == "udp6");
    CHECK(NetworkName(Network::kUnix) == "unix");
  }
}

TEST_SUITE("ParseAddress") {
  TEST_CASE("every scheme with a host and port parses") {
    struct Case {
      const char* url;
      Network network;
      const char* host;
      uint16_t port;
    };
    const Case cases[] = {
        {"tcp://127.0.0.1:9000", Network::kTcp, "127.0.0.1", 9000},
        {"tcp4://127.0.0.1:1", Network::kTcp4, "127.0.0.1", 1},
        {"tcp6://[::1]:65535", Network::kTcp6, "::1", 65535},
        {"udp://127.0.0.1:53", Network::kUdp, "127.0.0.1", 53},
        {"udp4://0.0.0.0:0", Network::kUdp4, "0.0.0.0", 0},
        {"udp6://[::]:5000", Network::kUdp6, "::", 5000},
        {"tcp://:9000", Network::kTcp, "", 9000},
        {"tcp://localhost:80", Network::kTcp, "localhost", 80},
        {"tcp://[::1]:80", Network::kTcp, "::1", 80},
        {"TCP://127.0.0.1:80", Network::kTcp, "127.0.0.1", 80},
    };
    for (const Case& c : cases) {
      CAPTURE(c.url);
      Address a = MustParse(c.url);
      CHECK(a.network == c.network);
      CHECK(a.host == c.host);
      CHECK(a.port == c.port);
      CHECK(a.path.empty());
      CHECK(a.options == AddressOptions{});
    }
  }

  TEST_CASE("unix addresses take absolute and relative paths") {
    Address abs = MustParse("unix:///tmp/a.sock");
    CHECK(abs.network == Network::kUnix);
    CHECK(abs.path == "/tmp/a.sock");
    Address rel = MustParse("unix://run/b.sock");
    CHECK(rel.path == "run/b.sock");
  }

  TEST_CASE("query options are applied") {
    Address a = MustParse(
        "tcp://127.0.0.1:0?reuseport=true&reuseaddr=false&backlog=16");
    CHECK(a.options.reuseport);
    CHECK_FALSE(a.options.reuseaddr);
    CHECK(a.options.backlog == 16);
    Address b = MustParse("unix:///tmp/x.sock?backlog=1&reuseport=0");
    CHECK(b.path == "/tmp/x.sock");
    CHECK(b.options.backlog == 1);
    CHECK_FALSE(b.options.reuseport);
  }

  TEST_CASE("malformed addresses are rejected with the problem named") {
    ExpectParseError("127.0.0.1:9000", "missing \"://\"");
    ExpectParseError("foo://127.0.0.1:9000", "unknown scheme \"foo\"");
    ExpectParseError("tcp://127.0.0.1", "missing port");
    ExpectParseError("tcp://127.0.0.1:", "missing port");
    ExpectParseError("tcp://127.0.0.1:70000", "port 70000 out of range");
    ExpectParseError("tcp://127.0.0.1:99999999999999", "out of range");
    ExpectParseError("tcp://127.0.0.1:abc", "bad port \"abc\"");
    ExpectParseError("tcp://127.0.0.1:80x", "junk \"x\" after port");
    ExpectParseError("tcp://127.0.0.1:80/path", "after port");
    ExpectParseError("tcp6://[::1:80", "unbalanced brackets");
    ExpectParseError("tcp6://::1]:80", "unbalanced brackets");
    ExpectParseError("tcp6://[::1]80", "junk \"80\" after host");
    ExpectParseError("tcp6://::1:80", "must be in brackets");
    ExpectParseError("tcp://example.com:80", "not a numeric IP");
    ExpectParseError("unix://", "empty unix path");
    ExpectParseError("unix://?backlog=3", "empty unix path");
    ExpectParseError("tcp://127.0.0.1:1?x=1", "unknown option \"x\"");
    ExpectParseError("tcp://127.0.0.1:1?reuseport=maybe",
                     "bad value \"maybe\" for reuseport");
    ExpectParseError("tcp://127.0.0.1:1?reuseaddr=", "bad value \"\" for reuseaddr");
    ExpectParseError("tcp://127.0.0.1:1?backlog=0", "bad value \"0\" for backlog");
    ExpectParseError("tcp://127.0.0.1:1?backlog=-5", "for backlog");
    ExpectParseError("tcp://127.0.0.1:1?reuseport", "has no value");
    ExpectParseError("tcp4://[::1]:80", "is IPv6 but the network is tcp4");
    ExpectParseError("udp6://127.0.0.1:80", "is IPv4 but the network is udp6");
    ExpectParseError("unix:///" + std::string(200, 'p'), "limit is 107 bytes");
  }

  TEST_CASE("ToString gives the canonical URL and round-trips") {
    const char* urls[] = {
        "tcp://127.0.0.1:9000",
        "tcp4://:0",
        "tcp6://[::1]:80",
        "udp://localhost:53",
        "udp6://[fe80::1]:1",
        "unix:///tmp/a.sock",
        "unix://relative/b.sock",
        "tcp://127.0.0.1:1?reuseport=true&reuseaddr=false&backlog=7",
    };
    for (const char* url : urls) {
      CAPTURE(url);
      Address a = MustParse(url);
      CHECK(a.ToString() == url);
      CHECK(MustParse(a.ToString()) == a);
    }
    CHECK(MustParse("tcp://127.0.0.1:1?backlog=4096&reuseport=false")
              .ToString() == "tcp://127.0.0.1:1");
  }
}

TEST_SUITE("Address::Resolve") {
  SocketAddress MustResolve(absl::string_view url) {
    absl::StatusOr<SocketAddress> sa = MustParse(url).Resolve();
    INFO(sa.status().ToString());
    REQUIRE(sa.ok());
    return *sa;
  }

  TEST_CASE("numeric IPv4 and IPv6 hosts resolve as written") {
    SocketAddress v4 = MustResolve("tcp://127.0.0.1:9000");
    CHECK(v4.family() == AF_INET);
    CHECK(v4.size() == sizeof(sockaddr_in));
    CHECK(v4.port() == 9000);
    CHECK(v4.ToString() == "127.0.0.1:9000");
    SocketAddress v6 = MustResolve("tcp://[::1]:9000");
    CHECK(v6.family() == AF_INET6);
    CHECK(v6.size() == sizeof(sockaddr_in6));
    CHECK(v6.ToString() == "[::1]:9000");
  }

  TEST_CASE("localhost is the loopback of the network's family") {
    CHECK(MustResolve("tcp://localhost:1").ToString() == "127.0.0.1:1");
    CHECK(MustResolve("tcp4://localhost:1").ToString() == "127.0.0.1:1");
    CHECK(MustResolve("udp://localhost:1").ToString() == "127.0.0.1:1");
    CHECK(MustResolve("tcp6://localhost:1").ToString() == "[::1]:1");
    CHECK(MustResolve("udp6://localhost:1").ToString() == "[::1]:1");
  }

  TEST_CASE("an empty host is every interface of the network's family") {
    CHECK(MustResolve("tcp://:80").ToString() == "0.0.0.0:80");
    CHECK(MustResolve("udp4://:80").ToString() == "0.0.0.0:80");
    CHECK(MustResolve("tcp6://:80").ToString() == "[::]:80");
    CHECK(MustResolve("udp6://:80").ToString() == "[::]:80");
  }

  TEST_CASE("a unix path becomes a sockaddr_un") {
    SocketAddress sa = MustResolve("unix:///tmp/a.sock");
    CHECK(sa.family() == AF_UNIX);
    CHECK(sa.port() == 0);
    CHECK(sa.ToString() == "/tmp/a.sock");
    const auto* un = reinterpret_cast<const sockaddr_un*>(sa.data());
    CHECK(std::string(un->sun_path) == "/tmp/a.sock");
  }

  TEST_CASE("unix paths up to 107 bytes fit, longer ones are rejected") {
    Address a;
    a.network = Network::kUnix;
    a.path = "/" + std::string(106, 'a');
    CHECK(a.Resolve().ok());
    a.path += "b";
    absl::StatusOr<SocketAddress> sa = a.Resolve();
    REQUIRE_FALSE(sa.ok());
    CHECK(sa.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(sa.status().message(), a.path));
    CHECK(absl::StrContains(sa.status().message(), "107"));
  }

  TEST_CASE("a host of the wrong family is rejected") {
    Address a;
    a.network = Network::kTcp4;
    a.host = "::1";
    absl::StatusOr<SocketAddress> sa = a.Resolve();
    REQUIRE_FALSE(sa.ok());
    CHECK(sa.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(sa.status().message(), "resolve tcp4://[::1]:0"));
    a.network = Network::kTcp6;
    a.host = "127.0.0.1";
    CHECK(a.Resolve().status().code() == absl::StatusCode::kInvalidArgument);
    a.host = "not-an-ip";
    CHECK(a.Resolve().status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_SUITE("SocketAddress") {
  TEST_CASE("an empty address has no family, port or text") {
    SocketAddress sa;
    CHECK(sa.size() == 0);
    CHECK(sa.empty());
    CHECK(sa.family() == AF_UNSPEC);
    CHECK(sa.port() == 0);
    CHECK(sa.ToString().empty());
    CHECK(SocketAddress::FromRaw(nullptr, 16).empty());
  }

  TEST_CASE("FromRaw copies and equality compares the bytes") {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(1234);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SocketAddress a = SocketAddress::FromRaw(
        reinterpret_cast<const sockaddr*>(&in), sizeof(in));
    CHECK(a.ToString() == "127.0.0.1:1234");
    SocketAddress b = a;
    CHECK(a == b);
    in.sin_port = htons(1235);
    SocketAddress c = SocketAddress::FromRaw(
        reinterpret_cast<const sockaddr*>(&in), sizeof(in));
    CHECK_FALSE(a == c);
    CHECK_FALSE(a == SocketAddress());
  }

  TEST_CASE("Reset prepares the full capacity and Clear empties it") {
    SocketAddress sa;
    sa.Reset();
    CHECK(sa.size() == SocketAddress::kCapacity);
    sa.set_size(100000);
    CHECK(sa.size() == SocketAddress::kCapacity);
    sa.Clear();
    CHECK(sa.empty());
  }

  TEST_CASE("abstract and unnamed unix addresses print sensibly") {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, "\0abstract", 9);
    SocketAddress abstract = SocketAddress::FromRaw(
        reinterpret_cast<const sockaddr*>(&un),
        offsetof(sockaddr_un, sun_path) + 9);
    CHECK(abstract.ToString() == "@abstract");
    SocketAddress unnamed = SocketAddress::FromRaw(
        reinterpret_cast<const sockaddr*>(&un), sizeof(sa_family_t));
    CHECK(unnamed.family() == AF_UNIX);
    CHECK(unnamed.ToString().empty());
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io
