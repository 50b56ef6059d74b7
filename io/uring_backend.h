// UringBackend: the Backend over io_uring. Streams receive through one
// multishot recv each into a ring of provided buffers shared by the loop
// thread, lent to the sink for one batch; sends are copied into a
// per-connection staging buffer and go out as one send in flight at a time,
// carrying everything gathered meanwhile (the SQE is prepared just before
// the turn's io_uring_enter, so every Send of the turn joins it; a large
// send with nothing staged goes to the socket directly, see
// direct_send_min; such a send of bytes this batch's receive lent, the
// turn's only Send, goes from the receive buffer itself, see Entry::lent);
// a multishot poll reports a stream's reset or hang-up once a read of it
// goes unanswered, past the EOF or once it shuts its side; listening
// sockets accept with one multishot accept. Datagram sockets receive with
// one multishot recvmsg each into a second buffer ring (datagram sends are
// sendto). Connects, write shutdowns and closes are operations too. All
// submissions of a turn go to the kernel in the one io_uring_enter that
// also waits. docs/io_uring.md maps each seam call to its operations.
// Thread contract: created on any thread; every other call on one thread
// (the ring is single-issuer where the kernel has it). Owns the ring, the
// buffers and the fds registered as owned.
#ifndef ACTNET_IO_URING_BACKEND_H_
#define ACTNET_IO_URING_BACKEND_H_

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "io/address.h"
#include "io/backend.h"

namespace actnet::io {

struct UringBackendOptions {
  // Provided receive buffers: their size and count (a power of two). 2 MiB
  // a loop, resident. One receive completion fills at most one buffer.
  // Where the kernel consumes them incrementally (IOU_PBUF_RING_INC, 6.12),
  // a receive takes only the bytes it reads and the next one goes on in
  // the same buffer, so small messages from many connections share a
  // buffer; elsewhere every completion takes a whole buffer, and the count
  // bounds the completions one batch can take before a receive must be
  // re-armed (ENOBUFS). docs/io_uring.md weighs the sizes.
  uint32_t buffer_size = 16 * 1024;
  uint32_t buffer_count = 128;
  // Use incremental consumption where the kernel has it (false: never; for
  // tests of the other path).
  bool incremental_buffers = true;
  // Run the ring with IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN where the
  // kernel has them (false: a plain ring, where completions may be posted
  // outside io_uring_enter; for tests of the older kernels' path).
  bool defer_taskrun = true;
  // Bytes one armed multishot receive may take before it ends and is armed
  // again (IORING_RECV_MSHOT_LIM, kernel 6.17; older kernels refuse it once
  // and run without). A kernel wake-up may run a receive up to 32 times, so
  // this bounds what a connection that paused reading meanwhile must hold.
  // 0: no limit.
  uint32_t recv_arm_limit = 64 * 1024;
  // Datagram sockets receive with one multishot recvmsg each into a second
  // ring, made at the first AddDatagram: datagram_buffer_count buffers (a
  // power of two) that each hold the largest datagram the backend hands
  // out whole (64 KiB) and its sender, about 1 MiB at 16. Each datagram
  // takes a buffer until the next batch; more datagrams in one batch than
  // buffers end the receive (ENOBUFS), which is armed again after it.
  uint32_t datagram_buffer_count = 16;
  // Submission queue entries (the completion queue has four times as many).
  uint32_t queue_depth = 1024;
  // Bytes a connection may have staged and not yet sent; a Send beyond it
  // takes what fits and promises OnSendReady.
  size_t send_staging_limit = 64 * 1024;
  // A Send of at least this many bytes, made while nothing is staged or in
  // flight, goes out at once: from the receive buffer if the bytes are
  // still there (a lent send, with the turn's io_uring_enter), else with
  // one sendmsg; only what the socket refuses is staged. Large writes then
  // cost no staging copy and no ring round trip per send_staging_limit.
  // 0: every Send is staged.
  size_t direct_send_min = 16 * 1024;
  // A staged send of at least this many bytes goes out as IORING_OP_SEND_ZC
  // (kernel 6.0; ignored where the kernel lacks it, see send_zc()): the
  // kernel sends from the staging buffer instead of copying it, and the
  // buffer is kept until the kernel's notification says it is done with
  // it. The staging copy is still made, since Send's caller gets its memory
  // back at once. 0: off. On loopback a zero-copy send is a deferred copy,
  // so it cannot win there (docs/io_uring.md).
  size_t send_zc_min = 0;
  // How long a connection closed with bytes still staged keeps sending
  // them before it is reset.
  absl::Duration close_linger = absl::Seconds(5);
};

class UringBackend final : public Backend {
 public:
  // Fails with the probe's status (uring_probe.h) when io_uring cannot run.
  static absl::StatusOr<std::unique_ptr<UringBackend>> Create(
      const UringBackendOptions& options);
  ~UringBackend() override;
  UringBackend(const UringBackend&) = delete;
  UringBackend& operator=(const UringBackend&) = delete;

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
  void Quiesce(int timeout_ms) override;
  // The ring's fd; QueueWake posts an IORING_OP_MSG_RING completion to it.
  int WakeTarget() const override { return ring_.ring_fd; }
  bool QueueWake(int target, int fallback_fd) override;

  // Whether the ring runs with IORING_SETUP_DEFER_TASKRUN (for tests/docs).
  bool defer_taskrun() const { return defer_taskrun_; }
  // Whether the receive buffers are consumed incrementally, and whether
  // receives run with recv_arm_limit (false once a kernel refused it).
  bool incremental_buffers() const { return incremental_; }
  bool recv_arm_limited() const { return recv_limit_; }
  // Whether staged sends of send_zc_min bytes or more are zero-copy.
  bool send_zc() const { return send_zc_; }

 private:
  // Operation tags: the low byte of a CQE's user_data (the entry's index is
  // above it) and of a Completion's bits. kHeld and kAccepted are deferred
  // work, never submitted.
  enum Tag : uint8_t {
    kRecv = 1,
    kSend,
    kAccept,
    kPoll,     // the waker written
    kHangup,   // a stream's error or hang-up (a multishot poll)
    kRecvMsg,  // a datagram socket's multishot recvmsg
    kCancel,
    kConnect,
    kShutdown,
    kClose,      // index 0: the entry is gone; a completion only on failure
    kHeld,       // deliver reads held while paused
    kAccepted,   // an fd accepted while paused
    kWake,       // a wake-up posted to a ring (MSG_RING), index: fallback fd
  };
  // Completion::bits above the tag, when kBuffer: the index in lent_ of
  // the bytes a receive completion read.
  static constexpr uint32_t kBuffer = 1u << 8;
  static constexpr int kBufferShift = 16;
  static constexpr size_t kMaxLent = 1u << 16;
  static constexpr size_t kMaxDatagram = 64 * 1024;
  // A provided-buffer ring and its buffers, mapped by Map and registered
  // by the backend.
  struct BufferRing {
    io_uring_buf_ring* ring = nullptr;
    size_t ring_bytes = 0;
    char* buffers = nullptr;
    size_t buffers_bytes = 0;
    uint32_t size = 0;
    uint32_t count = 0;
    absl::Status Map(uint32_t buffer_size, uint32_t buffer_count);
    void Unmap();
    char* At(uint16_t bid) const { return buffers + size_t{bid} * size; }
    // Gives buffers back to the kernel.
    void Add(absl::Span<const uint16_t> bids);
  };
  static uint32_t IndexOf(Handle h) { return static_cast<uint32_t>(h); }
  static uint32_t GenerationOf(Handle h) { return static_cast<uint32_t>(h >> 32); }
  static uint64_t UserData(uint32_t index, uint8_t tag) {
    return (static_cast<uint64_t>(index) << 8) | tag;
  }
  static uint32_t IndexOfUserData(uint64_t data) {
    return static_cast<uint32_t>(data >> 8);
  }
  static uint8_t TagOfUserData(uint64_t data) {
    return static_cast<uint8_t>(data & 0xFF);
  }
  static int64_t NowNs();

  enum class Kind : uint8_t {
    kFree,
    kWaker,
    kConnecting,
    kStream,
    kDatagram,
    kAcceptor,
    kClosing,  // closed by the owner; operations still in flight
  };
  // Bytes staged for sending: [begin, end) of `bytes` is not yet sent.
  // The buffer of the send in flight is never grown (reallocated) while
  // the kernel may read it: bytes gathered meanwhile go to `pending`.
  // Stage, Grow, Empty and Spare below manage it.
  struct Staging {
    std::unique_ptr<char[]> bytes;
    size_t capacity = 0;
    size_t begin = 0;
    size_t end = 0;
    size_t size() const { return end - begin; }
    const char* data() const { return bytes.get() + begin; }
    bool Fits(size_t n) const { return capacity - end >= n; }
  };
  // A staging buffer of up to kKeepStaging bytes stays with its connection
  // between sends (small messages allocate nothing per send; an idle
  // connection holds at most two). A larger one goes back to the loop's
  // spare buffers when emptied, up to kSpareBytes in all, and the next
  // Grow that fits takes it from there (medium and large messages do not
  // allocate per send either).
  static constexpr size_t kKeepStaging = 1024;
  static constexpr size_t kSpareBytes = size_t{1} << 20;

  struct Entry {
    int fd = -1;
    uint32_t generation = 1;
    uint32_t owner = kNoOwner;
    uint32_t next_free = 0;
    uint32_t inflight = 0;  // submitted operations without a final CQE
    Kind kind = Kind::kFree;
    CloseMode close_mode = CloseMode::kClose;
    Reading reading = Reading::kOn;
    bool owns_fd = false;
    bool armed = false;       // the recv, accept or poll operation
    bool arm_limited = false;  // ...a recv with recv_arm_limit
    bool cancelling = false;   // ...and a cancel of it was submitted
    bool send_armed = false;     // a send is owed or in flight
    bool send_prepared = false;  // ...and its SQE is prepared (the kernel
                                 // may read `sending`)
    bool want_send = false;   // a Send fell short: OnSendReady owed
    bool accepting = true;
    bool eof = false;         // the peer's FIN was received
    bool hangup_armed = false;  // its kHangup poll is in flight
    uint32_t sends = 0;         // Sends that took bytes (DispatchRecv)
    bool shut_pending = false;  // ShutdownWrite once the staging drains
    bool draining = false;    // closed with bytes staged: sending them
    bool held_pending = false;  // reads held while paused, to deliver first
    bool held_eof = false;
    int held_err = 0;
    int read_err = 0;
    int send_err = 0;
    int64_t drain_deadline_ns = 0;
    Staging sending;            // the send in flight
    Staging pending;            // gathered while it is in flight
    // A send of bytes still in the stream ring (a sink writing back what
    // it was lent): sent from there with MSG_DONTWAIT, so it completes in
    // the io_uring_enter that submits it; what the socket refuses is then
    // staged. The buffer is kept from the kernel until then (send_refs_:
    // Recycle leaves it in done_).
    struct {
      const char* data = nullptr;
      uint32_t size = 0;
      int32_t bid = -1;  // -1: none
    } lent;
    // Zero-copy sends: notifications owed for `sending` (the buffers
    // retired before it are in ColdState::zc_held).
    uint32_t sending_notifs = 0;
    // What few connections need, allocated on first use (Cold()) and
    // dropped with the entry, so an entry stays small.
    struct ColdState {
      std::string held;           // bytes received while paused
      std::vector<int> held_fds;  // accepted while paused
      std::unique_ptr<SocketAddress> connect_to;  // read by the kConnect op
      // Retired staging buffers the kernel may still read (zero-copy),
      // oldest first, each with the notifications owed for it. (A
      // vector: libstdc++'s deque allocates ~600 bytes when constructed.)
      std::vector<std::pair<std::unique_ptr<char[]>, uint32_t>> zc_held;
    };
    std::unique_ptr<ColdState> cold;
    ColdState& Cold() {
      if (cold == nullptr) cold = std::make_unique<ColdState>();
      return *cold;
    }
    union {
      StreamSink* stream;
      DatagramSink* datagram;
      AcceptSink* accept;
    } sink{};
  };

  UringBackend(const UringBackendOptions& options, bool defer_taskrun);
  absl::Status Init();
  absl::Status SetUpBuffers();
  absl::Status SetUpDatagramBuffers();
  absl::Status Register(const BufferRing& r, uint16_t group, uint16_t flags);

  // The entry of a handle that is registered and not closed, or null.
  // Inline, as the ones below: every completion and Send takes them.
  Entry* Live(Handle h) {
    const uint32_t i = IndexOf(h);
    if (i == 0 || i >= entries_.size()) return nullptr;
    Entry& e = entries_[i];
    return e.kind != Kind::kFree && e.kind != Kind::kClosing &&
                   e.generation == GenerationOf(h)
               ? &e
               : nullptr;
  }
  const Entry* Live(Handle h) const {
    return const_cast<UringBackend*>(this)->Live(h);
  }
  absl::StatusOr<uint32_t> Take(Kind kind, int fd, bool owns_fd,
                                uint32_t owner);
  void Free(uint32_t index);
  Handle HandleOf(uint32_t index) const {
    return (static_cast<Handle>(entries_[index].generation) << 32) | index;
  }

  // Submission.
  static uint8_t ArmedTag(Kind kind);
  void Enable();
  io_uring_sqe* NextSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    return sqe != nullptr ? sqe : SubmitForSqe();
  }
  io_uring_sqe* SubmitForSqe();  // the queue is full: hands it to the kernel
  // An SQE for an operation of entry `index`, counted in flight.
  io_uring_sqe* Sqe(uint32_t index, uint8_t tag) {
    io_uring_sqe* sqe = NextSqe();
    io_uring_sqe_set_data64(sqe, UserData(index, tag));
    ++entries_[index].inflight;
    return sqe;
  }
  void ArmRecv(uint32_t index);
  void ArmRecvMsg(uint32_t index);
  void ArmAccept(uint32_t index);
  void ArmPoll(uint32_t index);
  void Cancel(uint32_t index, uint8_t tag);
  void SubmitSend(uint32_t index);
  void SubmitShutdown(uint32_t index);
  int LentBuffer(const iovec* iov, int count) const;
  void StageLent(Entry& e, size_t from);
  void ReleaseLent(Entry& e);
  void PrepareSends();
  void PrepareCloses();
  void MaybeArmRecv(uint32_t index);
  void Defer(uint32_t index, uint8_t tag, int32_t result = 0);

  // Staging buffers.
  void Stage(Staging& s, const char* p, size_t n) {
    if (n == 0) return;  // memcpy may not be given a null buffer
    if (!s.Fits(n)) Grow(s, n);
    std::memcpy(s.bytes.get() + s.end, p, n);
    s.end += n;
  }
  // Room for n more bytes: the unsent bytes move to a spare buffer that
  // fits, or to a new one.
  void Grow(Staging& s, size_t n);
  // Empties s, keeping a buffer of up to kKeepStaging.
  void Empty(Staging& s) {
    if (s.capacity > kKeepStaging) Spare(s);
    s.begin = s.end = 0;
  }
  // Empties s and gives its buffer to spare_ (or frees it).
  void Spare(Staging& s);

  // Completion.
  int Fill(absl::Span<Completion> out, int n, int timeout_ms);
  void Enter(int timeout_ms);
  void Recycle();
  bool Harvest(const io_uring_cqe& cqe, Completion* c);
  bool HarvestWholeSend(const io_uring_cqe& cqe, uint32_t index);
  bool HarvestStreamBytes(const io_uring_cqe& cqe, uint32_t index,
                          Completion* c);
  bool RecvDone(uint32_t index, int res, const char* data, bool more);
  bool RecvMsgDone(uint32_t index, int res, const char* data, bool more);
  const char* Lend(bool datagram, uint16_t bid, int res, uint32_t* piece);
  uint32_t LendIncremental(uint16_t bid, int res);
  bool SendDone(uint32_t index, int res);
  void RetireSending(Entry& e);
  void SendNotified(Entry& e);
  bool AcceptDone(uint32_t index, int res, bool more);
  bool PollDone(uint32_t index, int res, bool more);
  void Hold(Entry& e, absl::string_view data, int res);
  void WatchHangup(uint32_t index);
  // Frees a closed entry once nothing of it is in flight or draining.
  // Inline: every completion calls it, and nearly all are not closing.
  void MaybeFinish(uint32_t index) {
    const Entry& e = entries_[index];
    if (e.kind == Kind::kClosing && e.inflight == 0 && !e.draining) {
      FinishClose(index);
    }
  }
  void FinishClose(uint32_t index);
  int CheckDrains(int timeout_ms);

  // Dispatch.
  void DispatchRecv(uint32_t index, const Completion& c);
  void DeliverHeld(uint32_t index);
  void DispatchAccepted(uint32_t index, int fd);
  void DispatchConnect(uint32_t index, int res);
  void DispatchRecvMsg(uint32_t index, const Completion& c);
  void HoldDatagram(Entry& e, const char* buf, int res);
  void DeliverHeldDatagrams(uint32_t index);
  void DeliverDatagram(DatagramSink* sink, const char* buf, int res);
  const char* PieceAt(uint32_t piece) const;

  const UringBackendOptions options_;
  const bool defer_taskrun_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool enabled_ = false;
  BufferRing streams_;    // group 0: stream receives
  BufferRing datagrams_;  // group 1: datagram receives, on first use
  msghdr datagram_msg_{};  // what a multishot recvmsg fills: the name only
  // Bytes lent to the sinks with the last batch: a buffer and the offset
  // of a receive's bytes in it. Buffers the kernel has moved past go back
  // to it (done_) at the next batch; with incremental consumption,
  // consumed_[bid] is how far the kernel has filled buffer bid.
  struct Piece {
    uint16_t bid;
    bool datagram;
    uint32_t offset;
  };
  std::vector<Piece> lent_;
  std::vector<uint16_t> done_;
  std::vector<uint16_t> datagrams_done_;
  std::vector<uint32_t> consumed_;
  // Per stream buffer: the lent sends reading it. A buffer in done_ goes
  // back to the kernel at the first batch where this is 0.
  std::vector<uint32_t> send_refs_;
  bool incremental_ = false;
  bool recv_limit_ = false;
  bool send_zc_ = false;
  std::vector<uint32_t> rearm_;     // recvs that ran out of buffers
  std::vector<uint32_t> draining_;  // closed entries still sending
  std::vector<uint32_t> unprepared_;  // sends owed an SQE at the next Enter
  std::vector<int> closes_;  // fds to close with the next Enter (kClose)
  // Emptied staging buffers larger than kKeepStaging, with their sizes;
  // spare_bytes_ in all.
  std::vector<std::pair<std::unique_ptr<char[]>, size_t>> spare_;
  size_t spare_bytes_ = 0;
  std::deque<Completion> deferred_;
  std::vector<Entry> entries_;       // entries_[0] is never used: handle 0
  uint32_t free_head_ = 0;
  size_t closing_ = 0;  // entries in Kind::kClosing
};

}  // namespace actnet::io

#endif  // ACTNET_IO_URING_BACKEND_H_
