// io::Backend's other registrations on real sockets, run on every backend
// (epoll level- and edge-triggered, io_uring): listening sockets
// (accepting, a resource error that pauses accepting, PauseAccept),
// connects that succeed or are refused, UDP and unix datagrams (the sender,
// a datagram too large for the buffer), wakers and released fds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "doctest/doctest.h"
#include "io/address.h"
#include "io/backend.h"
#include "io/socket.h"
#include "io/unique_fd.h"
#include "tests/io/backend_testing.h"
#include "tests/testing/common.h"

namespace actnet::io::testing {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

// A backend accepting on a loopback TCP listener (owner 5).
struct Acceptor {
  explicit Acceptor(BackendKind kind)
      : backend(MakeBackend(kind)), listener(Listen()) {
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

  std::unique_ptr<Backend> backend;
  UniqueFd listener;
  AcceptLog log;
  Handle handle = kNoHandle;
};

// The socket address a URL names (REQUIREd to parse and resolve).
SocketAddress Resolved(const std::string& url) {
  absl::StatusOr<Address> a = ParseAddress(url);
  REQUIRE(a.ok());
  absl::StatusOr<SocketAddress> resolved = a->Resolve();
  REQUIRE(resolved.ok());
  return *resolved;
}

UniqueFd TcpSocket() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  REQUIRE(fd.Get() >= 0);
  return fd;
}

TEST_SUITE("Backend") {
  TEST_CASE_TEMPLATE("Close(kRelease) leaves the fd open", B, EpollLevel,
                     EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    Pair p = MakePair();
    const int raw = p.a.Get();
    DatagramLog log;
    absl::StatusOr<Handle> h = b->AddDatagram(raw, /*owned=*/true, &log, 1);
    REQUIRE(h.ok());
    Turn(*b);
    b->Close(*h, CloseMode::kRelease);
    Write(p.b, "x");
    // A completion backend ends what it had in flight over the next turns.
    for (int i = 0; i < 5; ++i) CHECK(Turn(*b, 10) == 0);  // no longer watched
    CHECK(::fcntl(raw, F_GETFD) != -1);
    CHECK(log.datagrams.empty());
  }

  TEST_CASE_TEMPLATE(
      "a waker's write ends a wait, and its completions have no owner", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    REQUIRE(efd.Get() >= 0);
    REQUIRE(b->AddWaker(efd.Get()).ok());
    const uint64_t one = 1;
    REQUIRE(::write(efd.Get(), &one, sizeof(one)) == sizeof(one));
    Completion events[4];
    // The timeout is a hang guard: the write, not the timeout, ends the
    // wait. A backend may return the waker's completion (epoll) or none.
    constexpr auto kGuard = std::chrono::seconds(10);
    const testutil::Clock::time_point start = testutil::Clock::now();
    const int n =
        b->Poll(absl::MakeSpan(events),
                static_cast<int>(std::chrono::milliseconds(kGuard).count()));
    CHECK(testutil::Clock::now() - start < kGuard);
    CHECK(n <= 1);
    for (int i = 0; i < n; ++i)
      CHECK(b->OwnerOf(events[i]) == Backend::kNoOwner);
    CHECK(b->Poll(absl::MakeSpan(events), 0) == 0);  // once per write
  }

  TEST_CASE_TEMPLATE(
      "an acceptor accepts, and a resource error pauses it until ResumeAccept",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    // Before the acceptor is armed: io_uring's accept keeps the limit.
    FdTableFiller filler;
    Acceptor a(B::kKind);
    UniqueFd first = a.Connected();
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 1; }));
    CHECK(a.log.peers[0] == LocalOf(first));
    CHECK(a.log.errors.empty());

    // Two more connect once no fd can be opened; their sockets exist
    // before. Nothing is asserted while the table is full.
    UniqueFd second = TcpSocket();
    UniqueFd third = TcpSocket();
    const SocketAddress to = LocalOf(a.listener);
    const size_t filled = filler.Fill();
    const int connect2 =
        ::connect(second.Get(), to.data(), to.size()) == 0 ? 0 : errno;
    const int connect3 =
        ::connect(third.Get(), to.data(), to.size()) == 0 ? 0 : errno;
    const bool told =
        PumpUntil(*a.backend, [&] { return !a.log.errors.empty(); });
    const std::vector<int> errors = a.log.errors;
    const size_t accepted_while_full = a.log.accepted.size();
    const int polled_while_paused = Turn(*a.backend);
    filler.Release();

    REQUIRE(filled > 0);
    CHECK((connect2 == 0 || connect2 == EINPROGRESS));
    CHECK((connect3 == 0 || connect3 == EINPROGRESS));
    REQUIRE(told);
    CHECK(errors == std::vector<int>{EMFILE});
    CHECK(accepted_while_full == 1);
    CHECK(polled_while_paused == 0);  // paused: no spinning on the full backlog
    a.backend->ResumeAccept(a.handle);
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 3; }));
    CHECK(a.log.errors.size() == 1);
  }

  // The epoll backend leaves them in the listener's backlog; the io_uring
  // backend's accept may have taken them already, and holds them.
  TEST_CASE_TEMPLATE(
      "PauseAccept: no connection is handed out until ResumeAccept", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    Acceptor a(B::kKind);
    a.backend->PauseAccept(a.handle);
    UniqueFd client = a.Connected();
    REQUIRE(WaitFd(a.listener.Get(), POLLIN));  // it is in the backlog
    CHECK(Turn(*a.backend) == 0);
    for (int i = 0; i < 3; ++i) Turn(*a.backend, 10);
    CHECK(a.log.accepted.empty());
    if constexpr (kIsEpoll<B>)
      CHECK(Ready(a.listener.Get(), POLLIN));  // still there
    a.backend->ResumeAccept(a.handle);
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 1; }));
    CHECK(a.log.peers[0] == LocalOf(client));
    CHECK(a.log.errors.empty());
  }

  // A listener that stops accepting at its limit and starts again when a
  // connection closes may do both in one turn. io_uring: fails (10 s) while
  // UringBackend::AcceptDone drops the cancelled multishot accept without
  // re-arming it (ResumeAccept saw it still armed).
  TEST_CASE_TEMPLATE(
      "PauseAccept then ResumeAccept in the same turn: accepting goes on", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    Acceptor a(B::kKind);
    UniqueFd first = a.Connected();
    REQUIRE(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 1; }));
    a.backend->PauseAccept(a.handle);
    a.backend->ResumeAccept(a.handle);
    for (int i = 0; i < 3; ++i) Turn(*a.backend, 10);
    UniqueFd second = a.Connected();
    CHECK(PumpUntil(*a.backend, [&] { return a.log.accepted.size() == 2; }));
    CHECK(a.log.errors.empty());
  }

  TEST_CASE_TEMPLATE(
      "Connect to a listening socket reports OnConnected(0) and reads from "
      "then on",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
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
    const std::string hello = "hello";
    iovec iov{const_cast<char*>(hello.data()), hello.size()};
    CHECK(b->Send(*h, &iov, 1) == static_cast<ssize_t>(hello.size()));
    std::string got;
    REQUIRE(PumpUntil(
        *b,
        [&] {
          char buf[16];
          const ssize_t n = ::recv(server.Get(), buf, sizeof(buf), 0);
          if (n > 0) got.append(buf, static_cast<size_t>(n));
          return got == hello;
        },
        10));
    CHECK(log.connected.size() == 1);
    b->Close(*h, CloseMode::kClose);
  }

  // A unix connect usually completes at once; OnConnected still comes
  // from a later Dispatch, before any read. (io_uring connects with an
  // operation, sent to the kernel with the backend's first turn.)
  TEST_CASE_TEMPLATE(
      "Connect to a unix listener reports OnConnected(0) before the first read",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    testutil::TempDir dir;
    absl::StatusOr<Address> where = ParseAddress(dir.UnixUrl("s.sock"));
    REQUIRE(where.ok());
    absl::StatusOr<UniqueFd> listener = ListenStream(*where);
    REQUIRE(listener.ok());
    StreamLog log;
    int connected_at_first_read = -1;
    log.on_read = [&] {
      if (connected_at_first_read < 0)
        connected_at_first_read = static_cast<int>(log.connected.size());
    };
    int fd = -1;
    absl::StatusOr<Handle> h = b->Connect(LocalOf(*listener), &log, 2, &fd);
    REQUIRE(h.ok());
    log.backend = b.get();
    log.handle = *h;
    if (B::kKind == BackendKind::kUring) Turn(*b, 0);
    REQUIRE(WaitFd(listener->Get(), POLLIN));
    UniqueFd server(AcceptNonBlocking(listener->Get(), nullptr));
    REQUIRE(server.Get() >= 0);
    Write(server, "first");  // before the backend's first turn (epoll)
    REQUIRE(PumpUntil(*b, [&] { return log.read == "first"; }));
    CHECK(log.connected == std::vector<int>{0});
    CHECK(connected_at_first_read == 1);
    b->Close(*h, CloseMode::kClose);
  }

  TEST_CASE_TEMPLATE("Connect to a port nobody listens on reports ECONNREFUSED",
                     B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    // A bound socket that does not listen holds the port: a SYN to it is
    // answered with a reset.
    const SocketAddress where = Resolved("tcp://127.0.0.1:0");
    UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::bind(holder.Get(), where.data(), where.size()) == 0);
    StreamLog log;
    int fd = -1;
    absl::StatusOr<Handle> h = b->Connect(LocalOf(holder), &log, 2, &fd);
    if (!h.ok()) {
      // The kernel may refuse at once; then the status reports it.
      CHECK(
          absl::StrContains(h.status().message(), ErrnoMessage(ECONNREFUSED)));
    } else {
      REQUIRE(PumpUntil(*b, [&] { return !log.connected.empty(); }));
      CHECK(log.connected == std::vector<int>{ECONNREFUSED});
      CHECK(log.reads == 0);
      b->Close(*h, CloseMode::kClose);
    }
  }

  // io_uring reports every connect outcome from a Dispatch; epoll may
  // refuse a unix connect at once, through the returned status.
  TEST_CASE_TEMPLATE(
      "Connect to a unix path with no listener reports ENOENT, to a bound "
      "socket that does not listen ECONNREFUSED",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    testutil::TempDir dir;
    const SocketAddress bound_at = Resolved(dir.UnixUrl("bound.sock"));
    UniqueFd bound(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::bind(bound.Get(), bound_at.data(), bound_at.size()) == 0);
    const SocketAddress missing = Resolved(dir.UnixUrl("none.sock"));
    for (const auto& [to, err] :
         {std::pair{missing, ENOENT}, std::pair{bound_at, ECONNREFUSED}}) {
      CAPTURE(err);
      StreamLog log;
      int fd = -1;
      absl::StatusOr<Handle> h = b->Connect(to, &log, 2, &fd);
      if (!h.ok()) {
        CHECK(kIsEpoll<B>);
        CHECK(absl::StrContains(h.status().message(), ErrnoMessage(err)));
        continue;
      }
      REQUIRE(PumpUntil(*b, [&] { return !log.connected.empty(); }));
      CHECK(log.connected == std::vector<int>{err});
      CHECK(log.reads == 0);
      b->Close(*h, CloseMode::kClose);
    }
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
  }

  // A listener whose accept queue is full drops SYNs: the connect stays in
  // progress (the kernel retries after a second) until Close ends it.
  TEST_CASE_TEMPLATE(
      "Close while a connect is in progress: no OnConnected, and its fd is "
      "closed",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const SocketAddress where = Resolved("tcp://127.0.0.1:0");
    REQUIRE(::bind(listener.Get(), where.data(), where.size()) == 0);
    REQUIRE(::listen(listener.Get(), 0) == 0);
    UniqueFd queued = ConnectTo(listener);  // fills the queue of one
    REQUIRE(WaitFd(listener.Get(), POLLIN));
    const int fds_before = testutil::CountOpenFds();
    StreamLog log;
    int fd = -1;
    absl::StatusOr<Handle> h = b->Connect(LocalOf(listener), &log, 2, &fd);
    REQUIRE(h.ok());
    for (int i = 0; i < 5; ++i) Turn(*b, 10);
    CHECK(log.connected.empty());
    b->Close(*h, CloseMode::kClose);
    REQUIRE(PumpUntil(
        *b, [&] { return testutil::CountOpenFds() == fds_before; }, 10));
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
    CHECK(log.connected.empty());
    CHECK(log.hangups.empty());
  }

  TEST_CASE_TEMPLATE(
      "a UDP datagram reaches OnDatagram with its sender, and SendDatagram "
      "answers it",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    absl::StatusOr<Address> any = ParseAddress("udp://127.0.0.1:0");
    REQUIRE(any.ok());
    absl::StatusOr<UniqueFd> server = BindDatagram(*any);
    absl::StatusOr<UniqueFd> client = BindDatagram(*any);
    REQUIRE(server.ok());
    REQUIRE(client.ok());
    DatagramLog log;
    absl::StatusOr<Handle> h =
        b->AddDatagram(server->Get(), /*owned=*/false, &log, 3);
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
    // A second one: the registration keeps reading.
    REQUIRE(SendTo(client->Get(), "again", 5, &server_at) == 5);
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 2; }));
    CHECK(log.datagrams[1] == "again");
    b->Close(*h, CloseMode::kRelease);
  }

  // The peer's port unreachable comes back as an ICMP error, which the
  // socket's next receive reports; the registration keeps reading after it.
  TEST_CASE_TEMPLATE(
      "a connected UDP socket whose peer is gone reports OnDatagramError("
      "ECONNREFUSED), then receives what a new peer on that port sends",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    absl::StatusOr<Address> any = ParseAddress("udp://127.0.0.1:0");
    REQUIRE(any.ok());
    SocketAddress gone_at;
    {
      absl::StatusOr<UniqueFd> gone = BindDatagram(*any);
      REQUIRE(gone.ok());
      gone_at = LocalOf(*gone);
    }
    absl::StatusOr<UniqueFd> conn = ConnectDatagram(gone_at);
    REQUIRE(conn.ok());
    DatagramLog log;
    absl::StatusOr<Handle> h =
        b->AddDatagram(conn->Get(), /*owned=*/false, &log, 3);
    REQUIRE(h.ok());
    Turn(*b, 10);  // the receive is armed
    CHECK(b->SendDatagram(*h, "anyone?", nullptr) == 7);
    REQUIRE(PumpUntil(*b, [&] { return !log.errors.empty(); }));
    CHECK(log.errors == std::vector<int>{ECONNREFUSED});
    absl::StatusOr<Address> again =
        ParseAddress("udp://127.0.0.1:" + std::to_string(gone_at.port()));
    REQUIRE(again.ok());
    absl::StatusOr<UniqueFd> peer = BindDatagram(*again);
    REQUIRE(peer.ok());
    const SocketAddress conn_at = LocalOf(*conn);
    REQUIRE(SendTo(peer->Get(), "here", 4, &conn_at) == 4);
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 1; }));
    CHECK(log.datagrams[0] == "here");
    CHECK(log.errors.size() == 1);
    b->Close(*h, CloseMode::kRelease);
  }

  TEST_CASE_TEMPLATE(
      "SetReading(kPaused) leaves datagrams waiting and kOn delivers them", B,
      EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    Pair p = MakePair(SOCK_DGRAM);
    DatagramLog log;
    absl::StatusOr<Handle> h =
        b->AddDatagram(p.a.Get(), /*owned=*/false, &log, 3);
    REQUIRE(h.ok());
    Write(p.b, "one");
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 1; }));
    b->SetReading(*h, Reading::kPaused);
    Write(p.b, "two");
    Write(p.b, "three");
    for (int i = 0; i < 3; ++i) Turn(*b, 10);
    CHECK(log.datagrams.size() == 1);
    b->SetReading(*h, Reading::kOn);
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 3; }));
    CHECK(log.datagrams == std::vector<std::string>{"one", "two", "three"});
    Write(p.b, "four");
    REQUIRE(PumpUntil(*b, [&] { return log.datagrams.size() == 4; }));
    b->Close(*h, CloseMode::kRelease);
  }

  TEST_CASE_TEMPLATE(
      "a datagram larger than the buffer is reported with its size and dropped "
      "whole",
      B, EpollLevel, EpollEdge, Uring) {
    if (!Available(B::kKind)) return;
    auto b = MakeBackend(B::kKind);
    Pair p = MakePair(SOCK_DGRAM);  // unix datagrams may exceed 64 KiB
    const int sndbuf = 1 << 20;
    REQUIRE(::setsockopt(p.b.Get(), SOL_SOCKET, SO_SNDBUF, &sndbuf,
                         sizeof(sndbuf)) == 0);
    DatagramLog log;
    absl::StatusOr<Handle> h =
        b->AddDatagram(p.a.Get(), /*owned=*/false, &log, 3);
    REQUIRE(h.ok());
    const std::string big(100000, 'z');
    REQUIRE(::send(p.b.Get(), big.data(), big.size(), 0) ==
            static_cast<ssize_t>(big.size()));
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
