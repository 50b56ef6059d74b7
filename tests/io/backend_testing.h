// Helpers for the io::Backend tests: the backends under test (epoll
// level- and edge-triggered, io_uring) as doctest template parameters,
// sinks that record what a backend tells them, driving a backend's
// Poll/Dispatch cycle until something holds, and the sockets to drive it
// with (unix socketpairs, loopback TCP listeners and connections), plus a
// guard that fills the fd table. Every wait is bounded by a deadline that
// only a failing test reaches.
//
// Thread contract: one thread, like a backend.
#ifndef ACTNET_TESTS_IO_BACKEND_TESTING_H_
#define ACTNET_TESTS_IO_BACKEND_TESTING_H_

#include <sys/resource.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "doctest/doctest.h"
#include "io/address.h"
#include "io/backend.h"
#include "io/epoll_backend.h"
#include "io/unique_fd.h"
#include "io/uring_backend.h"

namespace actnet::io::testing {

// ---- The backends under test.
enum class BackendKind : uint8_t { kEpollLevel, kEpollEdge, kUring };

// One type per backend, for TEST_CASE_TEMPLATE(..., B, EpollLevel,
// EpollEdge, Uring): B::kKind names it. A seam test runs on all three.
struct EpollLevel {
  static constexpr BackendKind kKind = BackendKind::kEpollLevel;
};
struct EpollEdge {
  static constexpr BackendKind kKind = BackendKind::kEpollEdge;
};
struct Uring {
  static constexpr BackendKind kKind = BackendKind::kUring;
};
template <typename B>
inline constexpr bool kIsEpoll = B::kKind != BackendKind::kUring;

// Whether `kind` can run here: io_uring may be refused (a seccomp filter,
// the io_uring_disabled sysctl); the first no is reported once with the
// probe's reason, and the io_uring cases then return early.
bool Available(BackendKind kind);
// A backend of `kind` with its default options. REQUIREs that it was
// created: ask Available() first.
std::unique_ptr<Backend> MakeBackend(BackendKind kind);
// An EpollBackend (level- or edge-triggered), for the epoll-only cases.
std::unique_ptr<EpollBackend> MakeBackend(bool edge,
                                          size_t read_size = 64 * 1024);
const char* ModeName(bool edge);
// A UringBackend with `options`, for the io_uring-only cases.
std::unique_ptr<UringBackend> MakeUringBackend(
    const UringBackendOptions& options = {});

// ---- Sinks.
// Records a stream's outcomes. Like a connection, it turns reading off at
// the peer's EOF (level-triggered epoll would report it again and again).
struct StreamLog final : StreamSink {
  Backend* backend = nullptr;
  Handle handle = kNoHandle;
  std::string read;
  int reads = 0;
  int eofs = 0;
  size_t read_at_eof = 0;  // read.size() when the EOF was reported
  int send_ready = 0;
  std::vector<int> connected;
  std::vector<int> hangups;
  std::function<void()> on_read;  // runs after each read is recorded

  void OnRead(absl::string_view data) override;
  void OnReadEof() override;
  void OnSendReady() override { ++send_ready; }
  void OnConnected(int err) override { connected.push_back(err); }
  void OnHangup(int err) override { hangups.push_back(err); }
};

struct AcceptLog final : AcceptSink {
  std::vector<UniqueFd> accepted;
  std::vector<SocketAddress> peers;
  std::vector<int> errors;

  void OnAccepted(UniqueFd fd, const SocketAddress& peer) override;
  void OnAcceptError(int err) override { errors.push_back(err); }
};

struct DatagramLog final : DatagramSink {
  std::vector<std::string> datagrams;
  std::vector<SocketAddress> senders;
  std::vector<size_t> too_large;
  std::vector<int> errors;

  void OnDatagram(absl::string_view data, const SocketAddress& from) override;
  void OnDatagramTooLarge(size_t size, const SocketAddress& from) override {
    too_large.push_back(size);
  }
  void OnDatagramError(int err) override { errors.push_back(err); }
};

// ---- Driving a backend.
// Dispatches what one Poll returns (skipping completions with no owner);
// returns how many completions it polled.
int Turn(Backend& b, int timeout_ms = 0);
// Turns (each waiting up to turn_ms) until `done` holds; false after 10 s
// (stretched under a sanitizer). `done` may move a peer's bytes too.
bool PumpUntil(Backend& b, const std::function<bool()>& done,
               int turn_ms = 100);
// Registers `fd` with `log` as its sink.
Handle AddStream(Backend& b, UniqueFd fd, StreamLog* log, uint32_t owner = 1);

// ---- Sockets.
struct Pair {
  UniqueFd a;
  UniqueFd b;
};

// A backend with one end of a unix socketpair registered as a stream
// (owner 1), logged by `log`; the test writes to and closes `peer`. The
// backend closes the stream when it is destroyed.
struct PairedStream {
  explicit PairedStream(BackendKind kind);
  // Epoll, level- or edge-triggered, reading `read_size` bytes at a time.
  explicit PairedStream(bool edge, size_t read_size = 64 * 1024);

  std::unique_ptr<Backend> backend;
  UniqueFd peer;
  StreamLog log;
  Handle handle = kNoHandle;

 private:
  void Register();
};
// A non-blocking unix socketpair.
Pair MakePair(int type = SOCK_STREAM);
// A connected loopback TCP pair: {client, server}.
Pair TcpPair();

void Write(const UniqueFd& fd, absl::string_view bytes);
// Reads everything `fd` holds now; returns the byte count.
size_t DrainNow(const UniqueFd& fd);
// Waits for `events` on `fd`; false after 10 s.
bool WaitFd(int fd, short events);
// Whether `fd` has `events` now (no wait).
bool Ready(int fd, short events);
// A TCP socket listening on 127.0.0.1, port chosen by the kernel.
UniqueFd Listen();
SocketAddress LocalOf(const UniqueFd& fd);
// A client socket connecting to `listener` (maybe still in progress).
UniqueFd ConnectTo(const UniqueFd& listener);

// Leaves no fd number free: Fill() dup()s until EMFILE, Release() (or the
// destructor) closes those again. The constructor lowers a soft
// RLIMIT_NOFILE above `cap` to `cap` (restored on destruction), so the
// table stays small; construct it before the backend arms an accept,
// since io_uring's multishot accept keeps the limit it was armed with.
// While filled, open nothing and assert nothing (a sanitizer runtime
// probing memory through a pipe would fail).
class FdTableFiller {
 public:
  explicit FdTableFiller(rlim_t cap = 4096);
  ~FdTableFiller();
  FdTableFiller(const FdTableFiller&) = delete;
  FdTableFiller& operator=(const FdTableFiller&) = delete;

  // Returns how many fds it took (0: the table could not be filled).
  size_t Fill();
  void Release();

 private:
  rlimit saved_{};
  bool lowered_ = false;
  std::vector<int> fillers_;
};

}  // namespace actnet::io::testing

// Names in doctest's output: "<test name><epoll level-triggered>".
TYPE_TO_STRING_AS("epoll level-triggered", actnet::io::testing::EpollLevel);
TYPE_TO_STRING_AS("epoll edge-triggered", actnet::io::testing::EpollEdge);
TYPE_TO_STRING_AS("io_uring", actnet::io::testing::Uring);

#endif  // ACTNET_TESTS_IO_BACKEND_TESTING_H_
