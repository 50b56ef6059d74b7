#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "doctest/doctest.h"
#include "tests/testing/common.h"

namespace actnet::io {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();
constexpr int kPollTimeoutMs = 10000;  // a failure guard, never a delay

Address MustParse(absl::string_view url) {
  absl::StatusOr<Address> a = ParseAddress(url);
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  return *a;
}

UniqueFd MustListen(absl::string_view url) {
  absl::StatusOr<UniqueFd> fd = ListenStream(MustParse(url));
  INFO(fd.status().ToString());
  REQUIRE(fd.ok());
  return std::move(*fd);
}

SocketAddress MustLocal(int fd) {
  absl::StatusOr<SocketAddress> sa = LocalAddress(fd);
  REQUIRE(sa.ok());
  return *sa;
}

// Blocks until `fd` reports one of `events`; returns the revents.
short WaitFor(int fd, short events) {
  pollfd p{fd, events, 0};
  REQUIRE(::poll(&p, 1, kPollTimeoutMs) == 1);
  return p.revents;
}

int GetIntOption(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  REQUIRE(::getsockopt(fd, level, name, &value, &len) == 0);
  return value;
}

// A fresh directory under /tmp (short enough for unix socket paths),
// removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/actnet_io_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    for (const char* name : {"s.sock", "file"}) {
      ::unlink(Path(name).c_str());
    }
    ::rmdir(path_.c_str());
  }
  std::string Path(absl::string_view name) const {
    return absl::StrCat(path_, "/", name);
  }

 private:
  std::string path_;
};

bool Ipv6LoopbackWorks() {
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  absl::StatusOr<SocketAddress> sa = MustParse("tcp6://[::1]:0").Resolve();
  return sa.ok() && ::bind(fd.Get(), sa->data(), sa->size()) == 0;
}

TEST_SUITE("ListenStream") {
  TEST_CASE("a TCP listener on port 0 accepts a loopback connection") {
    UniqueFd listener = MustListen("tcp://127.0.0.1:0");
    SocketAddress local = MustLocal(listener.Get());
    CHECK(local.family() == AF_INET);
    CHECK(local.port() != 0);
    CHECK(GetIntOption(listener.Get(), SOL_SOCKET, SO_REUSEADDR) != 0);
    CHECK((::fcntl(listener.Get(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(listener.Get(), F_GETFD) & FD_CLOEXEC) != 0);

    SocketAddress peer;
    CHECK(AcceptNonBlocking(listener.Get(), &peer) == -EAGAIN);

    bool in_progress = false;
    absl::StatusOr<UniqueFd> client = ConnectStream(local, &in_progress);
    REQUIRE(client.ok());
    WaitFor(listener.Get(), POLLIN);
    UniqueFd accepted(AcceptNonBlocking(listener.Get(), &peer));
    REQUIRE(accepted.IsValid());
    CHECK((::fcntl(accepted.Get(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(accepted.Get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(peer == MustLocal(client->Get()));
    absl::StatusOr<SocketAddress> peer_of_accepted = PeerAddress(accepted.Get());
    REQUIRE(peer_of_accepted.ok());
    CHECK(*peer_of_accepted == peer);
    CHECK(AcceptNonBlocking(listener.Get(), nullptr) == -EAGAIN);
  }

  TEST_CASE("two reuseport listeners share a port; without it bind fails") {
    UniqueFd first = MustListen("tcp://127.0.0.1:0?reuseport=true");
    const uint16_t port = MustLocal(first.Get()).port();
    CHECK(GetIntOption(first.Get(), SOL_SOCKET, SO_REUSEPORT) != 0);
    UniqueFd second =
        MustListen(absl::StrCat("tcp://127.0.0.1:", port, "?reuseport=true"));
    CHECK(MustLocal(second.Get()).port() == port);

    UniqueFd plain = MustListen("tcp://127.0.0.1:0");
    const uint16_t plain_port = MustLocal(plain.Get()).port();
    absl::StatusOr<UniqueFd> clash =
        ListenStream(MustParse(absl::StrCat("tcp://127.0.0.1:", plain_port)));
    REQUIRE_FALSE(clash.ok());
    std::string message(clash.status().message());
    CAPTURE(message);
    CHECK(absl::StrContains(message, "bind"));
    CHECK(absl::StrContains(message, absl::StrCat("127.0.0.1:", plain_port)));
    CHECK(absl::StrContains(message, "Address already in use"));
    CHECK(clash.status().code() == absl::StatusCode::kFailedPrecondition);
  }

  TEST_CASE("a tcp6 listener is IPv6-only and accepts on ::1") {
    if (!Ipv6LoopbackWorks()) {
      MESSAGE("skipped: no IPv6 loopback in this environment");
      return;
    }
    UniqueFd listener = MustListen("tcp6://[::1]:0");
    CHECK(GetIntOption(listener.Get(), IPPROTO_IPV6, IPV6_V6ONLY) == 1);
    SocketAddress local = MustLocal(listener.Get());
    CHECK(local.family() == AF_INET6);
    absl::StatusOr<UniqueFd> client = ConnectStream(local, nullptr);
    REQUIRE(client.ok());
    WaitFor(listener.Get(), POLLIN);
    SocketAddress peer;
    UniqueFd accepted(AcceptNonBlocking(listener.Get(), &peer));
    CHECK(accepted.IsValid());
    CHECK(absl::StartsWith(peer.ToString(), "[::1]:"));
  }

  TEST_CASE("datagram networks are refused") {
    absl::StatusOr<UniqueFd> fd = ListenStream(MustParse("udp://127.0.0.1:0"));
    CHECK(fd.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(fd.status().message(), "not a stream network"));
  }

  TEST_CASE("an unresolvable address is InvalidArgument") {
    Address a;
    a.network = Network::kTcp4;
    a.host = "::1";
    CHECK(ListenStream(a).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_SUITE("ListenStream unix") {
  TEST_CASE("a unix listener accepts a connection") {
    TempDir dir;
    const std::string path = dir.Path("s.sock");
    UniqueFd listener = MustListen("unix://" + path);
    CHECK(MustLocal(listener.Get()).ToString() == path);
    absl::StatusOr<SocketAddress> remote =
        MustParse("unix://" + path).Resolve();
    REQUIRE(remote.ok());
    absl::StatusOr<UniqueFd> client = ConnectStream(*remote, nullptr);
    REQUIRE(client.ok());
    WaitFor(listener.Get(), POLLIN);
    SocketAddress peer;
    UniqueFd accepted(AcceptNonBlocking(listener.Get(), &peer));
    CHECK(accepted.IsValid());
    CHECK(peer.family() == AF_UNIX);
  }

  TEST_CASE("a stale socket file from a dead listener is replaced") {
    TempDir dir;
    const std::string url = "unix://" + dir.Path("s.sock");
    MustListen(url).Reset();  // closed: the file stays behind
    struct stat st;
    REQUIRE(::lstat(dir.Path("s.sock").c_str(), &st) == 0);
    UniqueFd again = MustListen(url);
    CHECK(again.IsValid());
  }

  TEST_CASE("a live listener on the path is an error") {
    TempDir dir;
    const std::string url = "unix://" + dir.Path("s.sock");
    UniqueFd live = MustListen(url);
    absl::StatusOr<UniqueFd> second = ListenStream(MustParse(url));
    REQUIRE_FALSE(second.ok());
    CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(second.status().message(),
                            url + ": address already in use"));
    CHECK(absl::StrContains(second.status().message(), "bind"));
  }

  TEST_CASE("a regular file on the path is never removed") {
    TempDir dir;
    const std::string path = dir.Path("file");
    UniqueFd file(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    REQUIRE(file.IsValid());
    absl::StatusOr<UniqueFd> fd = ListenStream(MustParse("unix://" + path));
    REQUIRE_FALSE(fd.ok());
    CHECK(absl::StrContains(fd.status().message(), "bind " + path));
    struct stat st;
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
  }

  TEST_CASE("a path longer than 107 bytes is InvalidArgument") {
    Address a;
    a.network = Network::kUnix;
    a.path = "/tmp/" + std::string(120, 'x');
    absl::StatusOr<UniqueFd> fd = ListenStream(a);
    REQUIRE_FALSE(fd.ok());
    CHECK(fd.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(fd.status().message(), "107"));
  }
}

TEST_SUITE("BindDatagram") {
  TEST_CASE("two UDP sockets exchange a datagram on loopback") {
    absl::StatusOr<UniqueFd> a = BindDatagram(MustParse("udp://127.0.0.1:0"));
    absl::StatusOr<UniqueFd> b =
        BindDatagram(MustParse("udp4://127.0.0.1:0?reuseport=true"));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(GetIntOption(b->Get(), SOL_SOCKET, SO_REUSEPORT) != 0);
    SocketAddress a_addr = MustLocal(a->Get());
    SocketAddress b_addr = MustLocal(b->Get());
    CHECK(a_addr.port() != 0);
    REQUIRE(::sendto(b->Get(), "ping", 4, 0, a_addr.data(), a_addr.size()) == 4);
    WaitFor(a->Get(), POLLIN);
    char buf[16];
    SocketAddress from;
    from.Reset();
    ssize_t n = ::recvfrom(a->Get(), buf, sizeof(buf), 0, from.mutable_data(),
                           from.mutable_size());
    REQUIRE(n == 4);
    CHECK(std::string(buf, 4) == "ping");
    CHECK(from == b_addr);
    CHECK(::recv(a->Get(), buf, sizeof(buf), 0) == -1);
    CHECK(errno == EAGAIN);
  }

  TEST_CASE("stream networks are refused") {
    absl::StatusOr<UniqueFd> fd = BindDatagram(MustParse("tcp://127.0.0.1:0"));
    CHECK(fd.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_SUITE("ConnectStream") {
  TEST_CASE("a connect to a listening port completes") {
    UniqueFd listener = MustListen("tcp://127.0.0.1:0");
    bool in_progress = true;
    absl::StatusOr<UniqueFd> client =
        ConnectStream(MustLocal(listener.Get()), &in_progress);
    REQUIRE(client.ok());
    if (in_progress) WaitFor(client->Get(), POLLOUT);
    CHECK(SocketError(client->Get()) == 0);
    absl::StatusOr<SocketAddress> peer = PeerAddress(client->Get());
    REQUIRE(peer.ok());
    CHECK(*peer == MustLocal(listener.Get()));
  }

  TEST_CASE("a connect to a closed port is refused") {
    SocketAddress closed;
    {
      UniqueFd listener = MustListen("tcp://127.0.0.1:0");
      closed = MustLocal(listener.Get());
    }
    bool in_progress = false;
    absl::StatusOr<UniqueFd> client = ConnectStream(closed, &in_progress);
    if (client.ok()) {
      CHECK(in_progress);
      WaitFor(client->Get(), POLLOUT);
      CHECK(SocketError(client->Get()) == ECONNREFUSED);
    } else {
      CHECK(client.status().code() == absl::StatusCode::kUnavailable);
      CHECK(absl::StrContains(client.status().message(),
                              "connect " + closed.ToString()));
    }
  }
}

TEST_SUITE("socket options") {
  TEST_CASE("options are set on a TCP socket") {
    UniqueFd listener = MustListen("tcp://127.0.0.1:0");
    absl::StatusOr<UniqueFd> client =
        ConnectStream(MustLocal(listener.Get()), nullptr);
    REQUIRE(client.ok());
    const int fd = client->Get();
    REQUIRE(SetNoDelay(fd, true).ok());
    CHECK(GetIntOption(fd, IPPROTO_TCP, TCP_NODELAY) == 1);
    REQUIRE(SetNoDelay(fd, false).ok());
    CHECK(GetIntOption(fd, IPPROTO_TCP, TCP_NODELAY) == 0);
    REQUIRE(SetKeepAlive(fd, true, 42).ok());
    CHECK(GetIntOption(fd, SOL_SOCKET, SO_KEEPALIVE) == 1);
    CHECK(GetIntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE) == 42);
    CHECK(GetIntOption(fd, IPPROTO_TCP, TCP_KEEPINTVL) == 42);
    REQUIRE(SetKeepAlive(fd, false).ok());
    CHECK(GetIntOption(fd, SOL_SOCKET, SO_KEEPALIVE) == 0);
    REQUIRE(SetSendBufferSize(fd, 64 * 1024).ok());
    REQUIRE(SetRecvBufferSize(fd, 64 * 1024).ok());
    // Linux doubles the requested size for bookkeeping.
    CHECK(GetIntOption(fd, SOL_SOCKET, SO_SNDBUF) >= 64 * 1024);
    CHECK(GetIntOption(fd, SOL_SOCKET, SO_RCVBUF) >= 64 * 1024);
  }

  TEST_CASE("a failing option names itself and the fd") {
    absl::Status s = SetNoDelay(-1, true);
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);  // EBADF
    CHECK(absl::StrContains(s.message(), "setsockopt(TCP_NODELAY) fd -1"));
    CHECK_FALSE(LocalAddress(-1).ok());
    CHECK(SocketError(-1) == EBADF);
    CHECK(AcceptNonBlocking(-1, nullptr) == -EBADF);
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io
