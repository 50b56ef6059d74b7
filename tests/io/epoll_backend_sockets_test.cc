// EpollBackend's other registrations on real sockets: listening sockets
// (accepting, a resource error that pauses accepting, PauseAccept), connects
// that succeed or are refused, UDP and unix datagrams (the sender, a
// datagram too large for the buffer), wakers and released fds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "doctest/doctest.h"
#include "io/address.h"
#include "io/backend.h"
#include "io/epoll_backend.h"
#include "io/socket.h"
#include "io/unique_fd.h"
#include "tests/io/backend_testing.h"
#include "tests/testing/common.h"

namespace actnet::io::testing {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

// A level-triggered backend accepting on a loopback TCP listener (owner 5).
struct Acceptor {
  Acceptor() : backend(MakeBackend(false)), listener(Listen()) {
    absl::StatusOr<Handle> h = backend->AddAcceptor(listener.Get(), &log, 5);
    REQUIRE(h.ok());
    handle = *h;
  }
  // A client whose handshake is done: it waits in the backlog if not
  // accepted.
  UniqueFd Connected() {
    UniqueFd client = ConnectTo(listener);
    REQUIRE(WaitFd(client.Get(), POLLOUT));
    return client;
  }

  std::unique_ptr<EpollBackend> backend;
  UniqueFd listener;
  AcceptLog log;
  Handle handle = kNoHandle;
};

TEST_SUITE("EpollBackend") {
  TEST_CASE("Close(kRelease) leaves the fd open") {
    auto b = MakeBackend(false);
    Pair p = MakePair();
    const int raw = p.a.Get();
    DatagramLog log;
    absl::StatusOr<Handle> h = b->AddDatagram(raw, /*owned=*/true, &log, 1);
    REQUIRE(h.ok());
    b->Close(*h, CloseMode::kRelease);
    CHECK(::fcntl(raw, F_GETFD) != -1);
    Write(p.b, "x");
    CHECK(Turn(*b) == 0);  // no longer watched
  }

  TEST_CASE("a waker's completions end a wait and have no owner") {
    auto b = MakeBackend(false);
    UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    REQUIRE(efd.Get() >= 0);
    REQUIRE(b->AddWaker(efd.Get()).ok());
    const uint64_t one = 1;
    REQUIRE(::write(efd.Get(), &one, sizeof(one)) == sizeof(one));
    Completion events[4];
    REQUIRE(b->Poll(absl::MakeSpan(events), 10000) == 1);
    CHECK(b->OwnerOf(events[0]) == Backend::kNoOwner);
    CHECK(b->Poll(absl::MakeSpan(events), 0) == 0);  // edge-triggered: once
  }

  TEST_CASE("an acceptor accepts, and a resource error pauses it until ResumeAccept") {
    Acceptor a;
    UniqueFd first = a.Connected();
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 1; }));
    CHECK(a.log.peers[0] == LocalOf(first));
    CHECK(a.log.errors.empty());

    // Two more wait in the backlog while no fd can be opened.
    UniqueFd second = a.Connected();
    UniqueFd third = a.Connected();
    {
      NoFreeFds exhausted;
      REQUIRE(PumpUntil(*a.backend, [&] { return !a.log.errors.empty(); }));
      CHECK(a.log.errors == std::vector<int>{EMFILE});
      CHECK(a.log.accepted.size() == 1);
      CHECK(Turn(*a.backend) == 0);  // paused: no spinning on the full backlog
    }
    a.backend->ResumeAccept(a.handle);
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 3; }));
    CHECK(a.log.errors.size() == 1);
  }

  TEST_CASE("PauseAccept leaves connections in the backlog until ResumeAccept") {
    Acceptor a;
    a.backend->PauseAccept(a.handle);
    UniqueFd client = a.Connected();
    REQUIRE(WaitFd(a.listener.Get(), POLLIN));  // it is in the backlog
    CHECK(Turn(*a.backend) == 0);
    a.backend->ResumeAccept(a.handle);
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 1; }));
  }

  TEST_CASE("Connect to a listening socket reports OnConnected(0) and reads from then on") {
    for (bool edge : {false, true}) {
      CAPTURE(ModeName(edge));
      auto b = MakeBackend(edge);
      UniqueFd listener = Listen();
      StreamLog log;
      int fd = -1;
      absl::StatusOr<Handle> h = b->Connect(LocalOf(listener), &log, 2, &fd);
      REQUIRE(h.ok());
      log.backend = b.get();
      log.handle = *h;
      CHECK(fd >= 0);
      REQUIRE(PumpUntil(*b, [&] { return !log.connected.empty(); }));
      CHECK(log.connected == std::vector<int>{0});
      REQUIRE(WaitFd(listener.Get(), POLLIN));
      UniqueFd server(AcceptNonBlocking(listener.Get(), nullptr));
      REQUIRE(server.Get() >= 0);
      Write(server, "welcome");
      REQUIRE(PumpUntil(*b, [&] { return log.read == "welcome"; }));
      b->Close(*h, CloseMode::kClose);
    }
  }

  TEST_CASE("Connect to a port nobody listens on reports ECONNREFUSED") {
    auto b = MakeBackend(false);
    // A bound socket that does not listen holds the port: a SYN to it is
    // answered with a reset.
    absl::StatusOr<Address> any = ParseAddress("tcp://127.0.0.1:0");
    REQUIRE(any.ok());
    absl::StatusOr<SocketAddress> where = any->Resolve();
    REQUIRE(where.ok());
    UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::bind(holder.Get(), where->data(), where->size()) == 0);
    StreamLog log;
    int fd = -1;
    absl::StatusOr<Handle> h = b->Connect(LocalOf(holder), &log, 2, &fd);
    if (!h.ok()) {
      // The kernel may refuse at once; then the status reports it.
      CHECK(absl::StrContains(h.status().message(), ErrnoMessage(ECONNREFUSED)));
    } else {
      REQUIRE(PumpUntil(*b, [&] { return !log.connected.empty(); }));
      CHECK(log.connected == std::vector<int>{ECONNREFUSED});
      CHECK(log.reads == 0);
      b->Close(*h, CloseMode::kClose);
    }
  }

  TEST_CASE("a UDP datagram reaches OnDatagram with its sender, and SendDatagram answers it") {
    auto b = MakeBackend(false);
    absl::StatusOr<Address> any = ParseAddress("udp://127.0.0.1:0");
    REQUIRE(any.ok());
    absl::StatusOr<UniqueFd> server = BindDatagram(*any);
    absl::StatusOr<UniqueFd> client = BindDatagram(*any);
    REQUIRE(server.ok());
    REQUIRE(client.ok());
    DatagramLog log;
    absl::StatusOr<Handle> h = b->AddDatagram(server->Get(), /*owned=*/false, &log, 3);
    REQUIRE(h.ok());
    const SocketAddress server_at = LocalOf(*server);
    REQUIRE(SendTo(client->Get(), "ping", 4, &server_at) == 4);
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 1; }));
    CHECK(log.datagrams[0] == "ping");
    CHECK(log.senders[0] == LocalOf(*client));
    CHECK(b->SendDatagram(*h, "pong", &log.senders[0]) == 4);
    REQUIRE(WaitFd(client->Get(), POLLIN));
    char buf[16];
    CHECK(::recv(client->Get(), buf, sizeof(buf), 0) == 4);
    CHECK(std::string(buf, 4) == "pong");
    b->Close(*h, CloseMode::kRelease);
  }

  TEST_CASE("a datagram larger than the buffer is reported with its size and dropped whole") {
    auto b = MakeBackend(false);
    Pair p = MakePair(SOCK_DGRAM);  // unix datagrams may exceed 64 KiB
    const int sndbuf = 1 << 20;
    REQUIRE(::setsockopt(p.b.Get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) == 0);
    DatagramLog log;
    absl::StatusOr<Handle> h = b->AddDatagram(p.a.Get(), /*owned=*/false, &log, 3);
    REQUIRE(h.ok());
    const std::string big(100000, 'z');
    REQUIRE(::send(p.b.Get(), big.data(), big.size(), 0) == static_cast<ssize_t>(big.size()));
    Write(p.b, "small");
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 1; }));
    CHECK(log.too_large == std::vector<size_t>{big.size()});
    CHECK(log.datagrams[0] == "small");
    CHECK(log.errors.empty());
    b->Close(*h, CloseMode::kRelease);
  }
}


TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io::testing
