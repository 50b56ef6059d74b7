#include "tests/io/backend_testing.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "doctest/doctest.h"
#include "io/socket.h"
#include "tests/testing/common.h"

namespace actnet::io::testing {
namespace {

using testutil::Clock;
constexpr auto kDeadline = std::chrono::seconds(10);  // a hang guard only

}  // namespace

void StreamLog::OnRead(absl::string_view data) {
  read.append(data.data(), data.size());
  ++reads;
  if (on_read) on_read();
}

void StreamLog::OnReadEof() {
  ++eofs;
  backend->SetReading(handle, Reading::kOff);
}

void AcceptLog::OnAccepted(UniqueFd fd, const SocketAddress& peer) {
  accepted.push_back(std::move(fd));
  peers.push_back(peer);
}

void DatagramLog::OnDatagram(absl::string_view data, const SocketAddress& from) {
  datagrams.emplace_back(data);
  senders.push_back(from);
}

std::unique_ptr<EpollBackend> MakeBackend(bool edge, size_t read_size) {
  EpollBackendOptions options;
  options.edge_triggered = edge;
  options.read_buffer_size = read_size;
  absl::StatusOr<std::unique_ptr<EpollBackend>> b = EpollBackend::Create(options);
  REQUIRE(b.ok());
  return std::move(*b);
}

const char* ModeName(bool edge) { return edge ? "edge-triggered" : "level-triggered"; }

int Turn(Backend& b, int timeout_ms) {
  Completion events[32];
  const int n = b.Poll(absl::MakeSpan(events), timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (b.OwnerOf(events[i]) != Backend::kNoOwner) b.Dispatch(events[i]);
  }
  return n;
}

bool PumpUntil(Backend& b, const std::function<bool()>& done) {
  const Clock::time_point deadline = Clock::now() + kDeadline;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    Turn(b, 100);
  }
  return true;
}

Handle AddStream(Backend& b, UniqueFd fd, StreamLog* log, uint32_t owner) {
  absl::StatusOr<Handle> h = b.AddStream(std::move(fd), log, owner);
  REQUIRE(h.ok());
  log->backend = &b;
  log->handle = *h;
  return *h;
}

PairedStream::PairedStream(bool edge, size_t read_size)
    : backend(MakeBackend(edge, read_size)) {
  Pair p = MakePair();
  peer = std::move(p.b);
  handle = AddStream(*backend, std::move(p.a), &log);
}

Pair MakePair(int type) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Pair TcpPair() {
  UniqueFd listener = Listen();
  UniqueFd client = ConnectTo(listener);
  REQUIRE(WaitFd(listener.Get(), POLLIN));
  const int server = AcceptNonBlocking(listener.Get(), nullptr);
  REQUIRE(server >= 0);
  REQUIRE(WaitFd(client.Get(), POLLOUT));
  return {std::move(client), UniqueFd(server)};
}

void Write(const UniqueFd& fd, absl::string_view bytes) {
  REQUIRE(::write(fd.Get(), bytes.data(), bytes.size()) ==
          static_cast<ssize_t>(bytes.size()));
}

size_t DrainNow(const UniqueFd& fd) {
  size_t total = 0;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
    if (n <= 0) return total;
    total += static_cast<size_t>(n);
  }
}

bool WaitFd(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kDeadline).count())) == 1;
}

UniqueFd Listen() {
  absl::StatusOr<Address> a = ParseAddress("tcp://127.0.0.1:0");
  REQUIRE(a.ok());
  absl::StatusOr<UniqueFd> fd = ListenStream(*a);
  REQUIRE(fd.ok());
  return std::move(*fd);
}

SocketAddress LocalOf(const UniqueFd& fd) {
  absl::StatusOr<SocketAddress> a = LocalAddress(fd.Get());
  REQUIRE(a.ok());
  return *a;
}

UniqueFd ConnectTo(const UniqueFd& listener) {
  absl::StatusOr<UniqueFd> fd = ConnectStream(LocalOf(listener), nullptr);
  REQUIRE(fd.ok());
  return std::move(*fd);
}

NoFreeFds::NoFreeFds() {
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
  // open() takes the lowest free number: every number below it is in use.
  const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  rlimit lowered = saved_;
  lowered.rlim_cur = static_cast<rlim_t>(lowest_free);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
}

NoFreeFds::~NoFreeFds() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

}  // namespace actnet::io::testing
