#include "tests/io/backend_testing.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "doctest/doctest.h"
#include "io/socket.h"
#include "io/uring_probe.h"
#include "tests/testing/common.h"
#include "tests/testing/test_scale.h"

namespace actnet::io::testing {
namespace {

using testutil::Clock;
// A hang guard only.
constexpr Clock::duration kDeadline =
    actnet::testing::Slack(std::chrono::seconds(10));

}  // namespace

bool Available(BackendKind kind) {
  if (kind != BackendKind::kUring) return true;
  const absl::Status probe = ProbeIoUring();
  static bool told = false;
  if (!probe.ok() && !told) {
    told = true;
    MESSAGE("io_uring cases skipped: " << probe.ToString());
  }
  return probe.ok();
}

std::unique_ptr<Backend> MakeBackend(BackendKind kind) {
  if (kind == BackendKind::kUring) return MakeUringBackend();
  return MakeBackend(kind == BackendKind::kEpollEdge);
}

std::unique_ptr<UringBackend> MakeUringBackend(
    const UringBackendOptions& options) {
  absl::StatusOr<std::unique_ptr<UringBackend>> b =
      UringBackend::Create(options);
  REQUIRE_MESSAGE(b.ok(), b.status().ToString());
  return std::move(*b);
}

void StreamLog::OnRead(absl::string_view data) {
  read.append(data.data(), data.size());
  ++reads;
  if (on_read) on_read();
}

void StreamLog::OnReadEof() {
  ++eofs;
  read_at_eof = read.size();
  backend->SetReading(handle, Reading::kOff);
}

void AcceptLog::OnAccepted(UniqueFd fd, const SocketAddress& peer) {
  accepted.push_back(std::move(fd));
  peers.push_back(peer);
}

void DatagramLog::OnDatagram(absl::string_view data,
                             const SocketAddress& from) {
  datagrams.emplace_back(data);
  senders.push_back(from);
}

std::unique_ptr<EpollBackend> MakeBackend(bool edge, size_t read_size) {
  EpollBackendOptions options;
  options.edge_triggered = edge;
  options.read_buffer_size = read_size;
  absl::StatusOr<std::unique_ptr<EpollBackend>> b =
      EpollBackend::Create(options);
  REQUIRE(b.ok());
  return std::move(*b);
}

const char* ModeName(bool edge) {
  return edge ? "edge-triggered" : "level-triggered";
}

int Turn(Backend& b, int timeout_ms) {
  Completion events[32];
  const int n = b.Poll(absl::MakeSpan(events), timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (b.OwnerOf(events[i]) != Backend::kNoOwner) b.Dispatch(events[i]);
  }
  return n;
}

bool PumpUntil(Backend& b, const std::function<bool()>& done, int turn_ms) {
  const Clock::time_point deadline = Clock::now() + kDeadline;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    Turn(b, turn_ms);
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

PairedStream::PairedStream(BackendKind kind) : backend(MakeBackend(kind)) {
  Register();
}

PairedStream::PairedStream(bool edge, size_t read_size)
    : backend(MakeBackend(edge, read_size)) {
  Register();
}

void PairedStream::Register() {
  Pair p = MakePair();
  peer = std::move(p.b);
  handle = AddStream(*backend, std::move(p.a), &log);
}

Pair MakePair(int type) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) ==
          0);
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
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(kDeadline);
  return ::poll(&p, 1, static_cast<int>(ms.count())) == 1;
}

bool Ready(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & events) != 0;
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

FdTableFiller::FdTableFiller(rlim_t cap) {
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
  if (saved_.rlim_cur > cap) {
    rlimit lowered = saved_;
    lowered.rlim_cur = cap;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    lowered_ = true;
  }
}

FdTableFiller::~FdTableFiller() {
  Release();
  if (lowered_) ::setrlimit(RLIMIT_NOFILE, &saved_);
}

size_t FdTableFiller::Fill() {
  const int source = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (source < 0) return 0;
  fillers_.push_back(source);
  // dup() takes the lowest free number: once it fails, none is left.
  for (int fd = ::dup(source); fd >= 0; fd = ::dup(source))
    fillers_.push_back(fd);
  return fillers_.size();
}

void FdTableFiller::Release() {
  for (int fd : fillers_) ::close(fd);
  fillers_.clear();
}

}  // namespace actnet::io::testing
