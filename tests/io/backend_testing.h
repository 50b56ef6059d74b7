// Helpers for the EpollBackend tests: sinks that record what a backend
// tells them, driving a backend's Poll/Dispatch cycle until something
// holds, and the sockets to drive it with (unix socketpairs, loopback TCP
// listeners and connections), plus a guard that leaves no fd free. Every
// wait is bounded by a deadline that only a failing test reaches.
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
#include "io/address.h"
#include "io/backend.h"
#include "io/epoll_backend.h"
#include "io/unique_fd.h"

namespace actnet::io::testing {

// Records a stream's outcomes. Like a connection, it turns reading off at
// the peer's EOF (level-triggered epoll would report it again and again).
struct StreamLog final : StreamSink {
  Backend* backend = nullptr;
  Handle handle = kNoHandle;
  std::string read;
  int reads = 0;
  int eofs = 0;
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

std::unique_ptr<EpollBackend> MakeBackend(bool edge, size_t read_size = 64 * 1024);
const char* ModeName(bool edge);

// Dispatches what one Poll returns (skipping completions with no owner);
// returns how many completions it polled.
int Turn(Backend& b, int timeout_ms = 0);
// Turns until `done` holds; false after 10 s.
bool PumpUntil(Backend& b, const std::function<bool()>& done);
// Registers `fd` with `log` as its sink.
Handle AddStream(Backend& b, UniqueFd fd, StreamLog* log, uint32_t owner = 1);

struct Pair {
  UniqueFd a;
  UniqueFd b;
};

// A backend (level- or edge-triggered) with one end of a unix socketpair
// registered as a stream (owner 1), logged by `log`; the test writes to and
// closes `peer`. The backend closes the stream when it is destroyed.
struct PairedStream {
  explicit PairedStream(bool edge, size_t read_size = 64 * 1024);

  std::unique_ptr<EpollBackend> backend;
  UniqueFd peer;
  StreamLog log;
  Handle handle = kNoHandle;
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
// A TCP socket listening on 127.0.0.1, port chosen by the kernel.
UniqueFd Listen();
SocketAddress LocalOf(const UniqueFd& fd);
// A client socket connecting to `listener` (maybe still in progress).
UniqueFd ConnectTo(const UniqueFd& listener);

// Lowers RLIMIT_NOFILE until destroyed, so that no new fd can be opened.
class NoFreeFds {
 public:
  NoFreeFds();
  ~NoFreeFds();
  NoFreeFds(const NoFreeFds&) = delete;
  NoFreeFds& operator=(const NoFreeFds&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace actnet::io::testing

#endif  // ACTNET_TESTS_IO_BACKEND_TESTING_H_
