// EpollBackend: the Backend over epoll. It performs each operation when its
// socket is ready: a readable stream is read into one scratch buffer per
// backend and lent to the sink; sends go straight to the socket, and a send
// the socket could not take whole arms writability for OnSendReady.
// Level-triggered by default; edge-triggered streams on request. Owns the
// epoll instance, the scratch buffer and the fds registered as owned.
// Thread contract: one thread, like every Backend.
#ifndef ACTNET_IO_EPOLL_BACKEND_H_
#define ACTNET_IO_EPOLL_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "io/backend.h"
#include "io/epoll_poller.h"

namespace actnet::io {

struct EpollBackendOptions {
  bool edge_triggered = false;
  // Bytes per stream read; datagram reads take at least 64 KiB.
  size_t read_buffer_size = 64 * 1024;
};

// Level-triggered: one read per readiness event, interest changed only when
// it must (reading paused or resumed, output waiting). Edge-triggered
// streams are registered once for both directions and read until a short
// read, at most kReadsPerTurn reads per turn; the rest of a busy stream's
// input, and reads resumed after a pause, are deferred to the next Poll, so
// one connection cannot starve others. Datagram and listening sockets are
// always level-triggered. A stream whose peer hangs up while its reading is
// paused and nothing waits to be sent is taken off epoll (level-triggered
// epoll would report the hang-up without end) until reading resumes; the
// unread bytes and the EOF are then read as usual.
class EpollBackend final : public Backend {
 public:
  static constexpr int kReadsPerTurn = 16;
  static constexpr int kAcceptsPerEvent = 64;
  static constexpr int kDatagramsPerEvent = 64;

  static absl::StatusOr<std::unique_ptr<EpollBackend>> Create(
      const EpollBackendOptions& options);
  ~EpollBackend() override;
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;

  absl::Status AddWaker(int fd) override;
  absl::StatusOr<Handle> AddStream(UniqueFd fd, StreamSink* sink,
                                   uint32_t owner) override;
  absl::StatusOr<Handle> Connect(const SocketAddress& remote, StreamSink* sink,
                                 uint32_t owner, int* fd) override;
  absl::StatusOr<Handle> AddDatagram(int fd, bool owned, DatagramSink* sink,
                                     uint32_t owner) override;
  absl::StatusOr<Handle> AddAcceptor(int fd, AcceptSink* sink,
                                     uint32_t owner) override;

  void SetReading(Handle h, Reading reading) override;
  ssize_t Send(Handle h, const iovec* iov, int count) override;
  ssize_t SendDatagram(Handle h, absl::string_view data,
                       const SocketAddress* to) override;
  int ShutdownWrite(Handle h) override;
  void PauseAccept(Handle h) override;
  void ResumeAccept(Handle h) override;
  void Close(Handle h, CloseMode mode) override;

  int Poll(absl::Span<Completion> out, int timeout_ms) override;
  int PollMore(absl::Span<Completion> out, int ready) override;
  bool HasPending() const override { return !deferred_.empty(); }
  uint32_t OwnerOf(const Completion& c) const override;
  void Dispatch(const Completion& c) override;

 private:
  enum class Kind : uint8_t {
    kFree,
    kWaker,
    kConnecting,
    kStream,
    kDatagram,
    kAcceptor,
  };
  struct Entry {
    int fd = -1;
    uint32_t generation = 1;
    uint32_t owner = kNoOwner;
    uint32_t next_free = 0;
    uint32_t registered = 0;  // interest epoll has now (level-triggered)
    Kind kind = Kind::kFree;
    bool owns_fd = false;
    bool edge = false;
    bool want_send = false;  // a Send fell short: OnSendReady owed
    bool parked = false;     // off epoll after a hang-up while paused
    bool accepting = true;
    Reading reading = Reading::kOn;
    union {
      StreamSink* stream;
      DatagramSink* datagram;
      AcceptSink* accept;
    } sink{};
  };

  EpollBackend(std::unique_ptr<EpollPoller> poller,
               const EpollBackendOptions& options);

  Entry* Live(Handle h);
  const Entry* Live(Handle h) const;
  // Takes a free entry and registers its fd with `interest`; on failure the
  // entry is freed again and the status returned.
  absl::StatusOr<Handle> Register(Kind kind, int fd, bool owns_fd,
                                  uint32_t owner, uint32_t interest, bool edge);
  void Free(Handle h);
  uint32_t StreamInterest(const Entry& e) const;
  void UpdateInterest(Entry& e, Handle h);
  void Defer(Handle h, uint32_t bits) { deferred_.push_back({h, bits, 0}); }

  void StreamEvent(Handle h, uint32_t bits);
  void ConnectEvent(Handle h);
  void ReadStream(Handle h, bool hangup);
  void AcceptEvent(Handle h);
  void DatagramEvent(Handle h);

  std::unique_ptr<EpollPoller> poller_;
  const bool edge_triggered_;
  const size_t read_size_;      // bytes per stream read
  const size_t datagram_size_;  // bytes per datagram read (>= 64 KiB)
  std::unique_ptr<char[]> scratch_;
  std::vector<Entry> entries_;  // entries_[0] is never used: handle 0
  uint32_t free_head_ = 0;      // 0: no free entry
  std::vector<Completion> deferred_;
  std::vector<PollEvent> events_;
};

}  // namespace actnet::io

#endif  // ACTNET_IO_EPOLL_BACKEND_H_
