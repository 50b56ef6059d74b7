#include "io/uring_backend.h"

#include <errno.h>
#include <poll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/socket.h"
#include "io/uring_probe.h"

namespace actnet::io {
namespace {

constexpr uint16_t kBufferGroup = 0;
constexpr uint16_t kDatagramGroup = 1;
// IOU_PBUF_RING_INC (kernel 6.12; liburing 2.3's headers predate it).
constexpr uint16_t kPbufRingInc = 2;

}  // namespace

// The tag of the operation a registration keeps armed.
uint8_t UringBackend::ArmedTag(Kind kind) {
  switch (kind) {
    case Kind::kStream:
      return kRecv;
    case Kind::kAcceptor:
      return kAccept;
    case Kind::kDatagram:
      return kRecvMsg;
    case Kind::kConnecting:
      return kConnect;
    default:
      return kPoll;
  }
}

namespace {

size_t TotalOf(const iovec* iov, int count) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

}  // namespace

void UringBackend::Grow(Staging& s, size_t n) {
  const size_t unsent = s.size();
  const size_t need = unsent + n;
  std::unique_ptr<char[]> larger;
  size_t capacity;
  if (!spare_.empty() && spare_.back().second >= need) {
    larger = std::move(spare_.back().first);
    capacity = spare_.back().second;
    spare_bytes_ -= capacity;
    spare_.pop_back();
  } else {
    capacity = std::max(need, 2 * s.capacity);
    larger.reset(new char[capacity]);  // not zeroed
  }
  if (unsent > 0) std::memcpy(larger.get(), s.bytes.get() + s.begin, unsent);
  s.bytes = std::move(larger);
  s.capacity = capacity;
  s.begin = 0;
  s.end = unsent;
}

void UringBackend::Spare(Staging& s) {
  if (s.bytes != nullptr && s.capacity > kKeepStaging &&
      spare_bytes_ + s.capacity <= kSpareBytes) {
    spare_bytes_ += s.capacity;
    spare_.emplace_back(std::move(s.bytes), s.capacity);
  }
  s.bytes.reset();
  s.capacity = 0;
  s.begin = s.end = 0;
}

absl::StatusOr<std::unique_ptr<UringBackend>> UringBackend::Create(
    const UringBackendOptions& options) {
  if (absl::Status s = ProbeIoUring(); !s.ok()) return s;
  const auto power_of_two = [](uint32_t n) {
    return n != 0 && n <= 32768 && (n & (n - 1)) == 0;
  };
  if (!power_of_two(options.datagram_buffer_count)) {
    return absl::InvalidArgumentError(
        "io_uring backend: datagram_buffer_count must be a power of two <= "
        "32768");
  }
  if (!power_of_two(options.buffer_count) ||
      options.buffer_size == 0 || options.queue_depth == 0 ||
      options.send_staging_limit == 0) {
    return absl::InvalidArgumentError(
        "io_uring backend: buffer_count must be a power of two <= 32768, "
        "and sizes non-zero");
  }
  std::unique_ptr<UringBackend> b(
      new UringBackend(options,
                       options.defer_taskrun && IoUringDeferTaskrun()));
  if (absl::Status s = b->Init(); !s.ok()) return s;
  return b;
}

UringBackend::UringBackend(const UringBackendOptions& options,
                           bool defer_taskrun)
    : options_(options), defer_taskrun_(defer_taskrun), entries_(1) {}

// The ring starts disabled when single-issuer: the thread that enables it
// (the first to submit, Enable) becomes its issuer.
absl::Status UringBackend::Init() {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  if (defer_taskrun_) {
    p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
               IORING_SETUP_R_DISABLED;
  }
  p.cq_entries = options_.queue_depth * 4;
  const int ret = io_uring_queue_init_params(options_.queue_depth, &ring_, &p);
  if (ret < 0) {
    return absl::Status(absl::ErrnoToStatusCode(-ret),
                        absl::StrCat("io_uring_setup: ", std::strerror(-ret)));
  }
  ring_ready_ = true;
  enabled_ = !defer_taskrun_;
  if (absl::Status s = SetUpBuffers(); !s.ok()) return s;
  if (options_.send_zc_min > 0) {  // IORING_OP_SEND_ZC: kernel 6.0
    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
      send_zc_ = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
      io_uring_free_probe(probe);
    }
  }
  return absl::OkStatus();
}

absl::Status UringBackend::BufferRing::Map(uint32_t buffer_size,
                                           uint32_t buffer_count) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size = buffer_size;
  count = buffer_count;
  ring_bytes = (count * sizeof(io_uring_buf) + page - 1) / page * page;
  buffers_bytes = size_t{count} * size;
  void* ring_mem = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* buf_mem = mmap(nullptr, buffers_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_mem == MAP_FAILED || buf_mem == MAP_FAILED) {
    if (ring_mem != MAP_FAILED) munmap(ring_mem, ring_bytes);
    if (buf_mem != MAP_FAILED) munmap(buf_mem, buffers_bytes);
    return absl::ResourceExhaustedError("io_uring backend: mmap failed");
  }
  ring = static_cast<io_uring_buf_ring*>(ring_mem);
  buffers = static_cast<char*>(buf_mem);
  io_uring_buf_ring_init(ring);
  return absl::OkStatus();
}

void UringBackend::BufferRing::Unmap() {
  if (ring != nullptr) munmap(ring, ring_bytes);
  if (buffers != nullptr) munmap(buffers, buffers_bytes);
  ring = nullptr;
  buffers = nullptr;
}

void UringBackend::BufferRing::Add(absl::Span<const uint16_t> bids) {
  const int mask = io_uring_buf_ring_mask(count);
  int offset = 0;
  for (uint16_t bid : bids) {
    io_uring_buf_ring_add(ring, At(bid), size, bid, mask, offset++);
  }
  io_uring_buf_ring_advance(ring, offset);
}

absl::Status UringBackend::Register(const BufferRing& r, uint16_t group,
                                    uint16_t flags) {
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(r.ring);
  reg.ring_entries = r.count;
  reg.bgid = group;
  reg.pad = flags;  // `flags` in newer headers
  const int ret = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (ret < 0) {
    return absl::Status(
        absl::ErrnoToStatusCode(-ret),
        absl::StrCat("io_uring buffer ring: ", std::strerror(-ret)));
  }
  return absl::OkStatus();
}

static std::vector<uint16_t> AllBuffers(uint32_t count) {
  std::vector<uint16_t> bids(count);
  for (uint32_t b = 0; b < count; ++b) bids[b] = static_cast<uint16_t>(b);
  return bids;
}

// The stream receives' ring, every buffer given to it: incremental where
// the kernel has it.
absl::Status UringBackend::SetUpBuffers() {
  if (absl::Status s = streams_.Map(options_.buffer_size, options_.buffer_count);
      !s.ok()) {
    return s;
  }
  if (options_.incremental_buffers) {
    absl::Status s = Register(streams_, kBufferGroup, kPbufRingInc);
    incremental_ = s.ok();
    // A kernel before 6.12 refuses the flag: whole buffers then.
    if (!s.ok() && !absl::IsInvalidArgument(s)) return s;
  }
  if (!incremental_) {
    if (absl::Status s = Register(streams_, kBufferGroup, 0); !s.ok()) return s;
  }
  // Resident from the start: a fixed cost of the loop thread, like the
  // epoll backend's read buffer, not growth under load.
  madvise(streams_.buffers, streams_.buffers_bytes, MADV_WILLNEED);
  std::memset(streams_.buffers, 0, streams_.buffers_bytes);
  streams_.Add(AllBuffers(streams_.count));
  consumed_.assign(options_.buffer_count, 0);
  send_refs_.assign(options_.buffer_count, 0);
  recv_limit_ = options_.recv_arm_limit > 0;
  return absl::OkStatus();
}

// The datagram receives' ring: whole buffers, each the recvmsg header, a
// sender's address and the largest datagram handed out whole.
absl::Status UringBackend::SetUpDatagramBuffers() {
  if (datagrams_.ring != nullptr) return absl::OkStatus();
  const uint32_t size = static_cast<uint32_t>(
      sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_storage) + kMaxDatagram);
  if (absl::Status s = datagrams_.Map(size, options_.datagram_buffer_count);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Register(datagrams_, kDatagramGroup, 0); !s.ok()) {
    datagrams_.Unmap();
    return s;
  }
  datagrams_.Add(AllBuffers(datagrams_.count));
  datagram_msg_.msg_namelen = sizeof(sockaddr_storage);
  return absl::OkStatus();
}

UringBackend::~UringBackend() {
  // Exiting the ring cancels what is in flight; the kernel is then done
  // with every buffer, staged or provided. Closes not yet submitted are
  // made here.
  if (ring_ready_) io_uring_queue_exit(&ring_);
  for (int fd : closes_) close(fd);
  streams_.Unmap();
  datagrams_.Unmap();
  for (Entry& e : entries_) {
    if (e.cold != nullptr) {
      for (int fd : e.cold->held_fds) close(fd);
    }
    if (e.kind != Kind::kFree && e.owns_fd && e.fd >= 0 &&
        !(e.kind == Kind::kClosing && e.close_mode == CloseMode::kRelease)) {
      close(e.fd);
    }
  }
}

absl::StatusOr<uint32_t> UringBackend::Take(Kind kind, int fd, bool owns_fd,
                                            uint32_t owner) {
  if (entries_.size() >= (uint64_t{1} << 32) - 1) {
    return absl::ResourceExhaustedError("io_uring backend: too many sockets");
  }
  uint32_t index = free_head_;
  if (index != 0) {
    free_head_ = entries_[index].next_free;
  } else {
    index = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[index];
  const uint32_t generation = e.generation;
  e = Entry();
  e.generation = generation;
  e.fd = fd;
  e.owner = owner;
  e.kind = kind;
  e.owns_fd = owns_fd;
  return index;
}

// The slot is reused only once no operation of it is in flight, so a CQE
// always finds the entry it was submitted for.
void UringBackend::Free(uint32_t index) {
  Entry& e = entries_[index];
  e.kind = Kind::kFree;
  e.fd = -1;
  e.sink.stream = nullptr;
  Spare(e.sending);  // a closed connection keeps no buffer
  Spare(e.pending);
  e.sending_notifs = 0;
  e.cold.reset();
  e.generation = e.generation + 1 == 0 ? 1 : e.generation + 1;
  e.next_free = free_head_;
  free_head_ = index;
}

// ---------------------------------------------------------------------------
// Submission.

void UringBackend::Enable() {
  if (enabled_) return;
  enabled_ = true;
  io_uring_register(ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  io_uring_register_ring_fd(&ring_);  // per thread: saves an fd lookup
}

io_uring_sqe* UringBackend::SubmitForSqe() {
  io_uring_sqe* sqe = nullptr;
  while (sqe == nullptr) {
    Enable();
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringBackend::ArmRecv(uint32_t index) {
  Entry& e = entries_[index];
  io_uring_sqe* sqe = Sqe(index, kRecv);
  io_uring_prep_recv_multishot(sqe, e.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  // The total byte limit (IORING_RECV_MSHOT_LIM) is read from the field
  // newer headers call optlen; RecvDone drops it if the kernel refuses it.
  if (recv_limit_) sqe->file_index = options_.recv_arm_limit;
  e.arm_limited = recv_limit_;
  e.armed = true;
}

// MSG_TRUNC: a datagram larger than the buffer reports its whole size
// (io_uring_recvmsg_out::payloadlen), to be dropped whole, as on epoll.
void UringBackend::ArmRecvMsg(uint32_t index) {
  Entry& e = entries_[index];
  io_uring_sqe* sqe = Sqe(index, kRecvMsg);
  io_uring_prep_recvmsg_multishot(sqe, e.fd, &datagram_msg_, MSG_TRUNC);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kDatagramGroup;
  e.armed = true;
}

void UringBackend::ArmAccept(uint32_t index) {
  Entry& e = entries_[index];
  io_uring_prep_multishot_accept(Sqe(index, kAccept), e.fd, nullptr, nullptr,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
  e.armed = true;
}

// The waker's poll: multishot, each write ends a wait.
void UringBackend::ArmPoll(uint32_t index) {
  io_uring_prep_poll_multishot(Sqe(index, kPoll), entries_[index].fd, POLLIN);
  entries_[index].armed = true;
}

void UringBackend::Cancel(uint32_t index, uint8_t tag) {
  Entry& e = entries_[index];
  if (tag == kSend && e.send_armed && !e.send_prepared) {
    // Owed but never submitted: nothing to cancel, nothing will complete.
    e.send_armed = false;
    ReleaseLent(e);
    RetireSending(e);
    Empty(e.pending);
    return;
  }
  if (tag == kSend ? !e.send_armed : !e.armed || e.cancelling) return;
  if (tag != kSend) e.cancelling = true;
  io_uring_prep_cancel64(Sqe(index, kCancel), UserData(index, tag), 0);
}

void UringBackend::SubmitSend(uint32_t index) {
  Entry& e = entries_[index];
  const char* from = e.sending.data();
  if (e.lent.bid >= 0) {
    io_uring_prep_send(Sqe(index, kSend), e.fd, e.lent.data, e.lent.size,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
  } else if (send_zc_ && e.sending.size() >= options_.send_zc_min) {
    io_uring_prep_send_zc(Sqe(index, kSend), e.fd, from, e.sending.size(),
                          MSG_NOSIGNAL, 0);
  } else {
    io_uring_prep_send(Sqe(index, kSend), e.fd, from, e.sending.size(),
                       MSG_NOSIGNAL);
  }
  e.send_armed = true;
  e.send_prepared = true;
}

// The stream buffer holding all of a one-piece Send, or -1: the bytes a
// sink was lent by this batch, stay there until the batch ends.
int UringBackend::LentBuffer(const iovec* iov, int count) const {
  if (count != 1 || iov[0].iov_len == 0) return -1;
  const char* p = static_cast<const char*>(iov[0].iov_base);
  if (p < streams_.buffers || p >= streams_.buffers + streams_.buffers_bytes) {
    return -1;
  }
  const auto bid = static_cast<size_t>(p - streams_.buffers) / streams_.size;
  if (iov[0].iov_len > static_cast<size_t>(streams_.At(bid) + streams_.size - p)) {
    return -1;
  }
  return static_cast<int>(bid);
}

// The lent send's bytes from `from` on are copied to the (empty) staging
// buffer, to go out as an ordinary send; the receive buffer is let go.
void UringBackend::StageLent(Entry& e, size_t from) {
  if (from < e.lent.size) Stage(e.sending, e.lent.data + from, e.lent.size - from);
  ReleaseLent(e);
}

void UringBackend::ReleaseLent(Entry& e) {
  const int bid = e.lent.bid;
  if (bid < 0) return;
  e.lent.bid = -1;
  e.lent.data = nullptr;
  e.lent.size = 0;
  --send_refs_[bid];  // if in done_, back to the kernel at the next batch
}

// FIN after what the kernel holds; a failure is reported as OnHangup.
void UringBackend::SubmitShutdown(uint32_t index) {
  io_uring_prep_shutdown(Sqe(index, kShutdown), entries_[index].fd, SHUT_WR);
}

// The fds of entries that finished closing, closed by the turn's
// io_uring_enter. Only a failure posts a completion (ignored: the fd is
// released either way).
void UringBackend::PrepareCloses() {
  for (int fd : closes_) {
    io_uring_sqe* sqe = NextSqe();
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, UserData(0, kClose));
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  }
  closes_.clear();
}

// The sends Send armed this turn, each carrying everything staged since.
// An index may be listed twice (freed and reused): the flags tell.
void UringBackend::PrepareSends() {
  for (uint32_t index : unprepared_) {
    Entry& e = entries_[index];
    if (e.send_armed && !e.send_prepared) SubmitSend(index);
  }
  unprepared_.clear();
}

// Re-arms a stream's receive if it should be reading and is not.
void UringBackend::MaybeArmRecv(uint32_t index) {
  Entry& e = entries_[index];
  if (e.reading != Reading::kOn || e.armed || e.held_pending) return;
  if (e.kind == Kind::kStream && !e.eof && e.read_err == 0) ArmRecv(index);
  if (e.kind == Kind::kDatagram) ArmRecvMsg(index);
}

void UringBackend::Defer(uint32_t index, uint8_t tag, int32_t result) {
  deferred_.push_back(Completion{HandleOf(index), tag, result});
}

// ---------------------------------------------------------------------------
// Registration.

absl::Status UringBackend::AddWaker(int fd) {
  absl::StatusOr<uint32_t> index = Take(Kind::kWaker, fd, false, kNoOwner);
  if (!index.ok()) return index.status();
  ArmPoll(*index);  // never read
  return absl::OkStatus();
}

absl::StatusOr<Handle> UringBackend::AddStream(UniqueFd fd, StreamSink* sink,
                                               uint32_t owner) {
  absl::StatusOr<uint32_t> index = Take(Kind::kStream, fd.Get(), true, owner);
  if (!index.ok()) return index.status();
  fd.Release();
  entries_[*index].sink.stream = sink;
  ArmRecv(*index);
  return HandleOf(*index);
}

// One IORING_OP_CONNECT, submitted with the turn: every outcome, an
// immediate refusal included, is reported by OnConnected from a Dispatch.
absl::StatusOr<Handle> UringBackend::Connect(const SocketAddress& remote,
                                             StreamSink* sink, uint32_t owner,
                                             int* fd) {
  absl::StatusOr<UniqueFd> socket = StreamSocketFor(remote);
  if (!socket.ok()) return socket.status();
  absl::StatusOr<uint32_t> index =
      Take(Kind::kConnecting, socket->Get(), true, owner);
  if (!index.ok()) return index.status();
  *fd = socket->Release();
  Entry& e = entries_[*index];
  e.sink.stream = sink;
  const SocketAddress* to =
      (e.Cold().connect_to = std::make_unique<SocketAddress>(remote)).get();
  io_uring_prep_connect(Sqe(*index, kConnect), e.fd, to->data(), to->size());
  e.armed = true;
  return HandleOf(*index);
}

absl::StatusOr<Handle> UringBackend::AddDatagram(int fd, bool owned,
                                                 DatagramSink* sink,
                                                 uint32_t owner) {
  if (absl::Status s = SetUpDatagramBuffers(); !s.ok()) return s;
  absl::StatusOr<uint32_t> index = Take(Kind::kDatagram, fd, owned, owner);
  if (!index.ok()) return index.status();
  entries_[*index].sink.datagram = sink;
  ArmRecvMsg(*index);
  return HandleOf(*index);
}

absl::StatusOr<Handle> UringBackend::AddAcceptor(int fd, AcceptSink* sink,
                                                 uint32_t owner) {
  absl::StatusOr<uint32_t> index = Take(Kind::kAcceptor, fd, false, owner);
  if (!index.ok()) return index.status();
  entries_[*index].sink.accept = sink;
  ArmAccept(*index);
  return HandleOf(*index);
}

// ---------------------------------------------------------------------------
// Operations.

void UringBackend::SetReading(Handle h, Reading reading) {
  Entry* e = Live(h);
  if (e == nullptr || e->reading == reading) return;
  const uint32_t index = IndexOf(h);
  e->reading = reading;
  if (e->kind != Kind::kStream && e->kind != Kind::kDatagram) return;
  if (reading != Reading::kOn) {
    if (reading == Reading::kOff) {
      if (e->cold != nullptr) e->cold->held.clear();
      e->held_pending = false;
    }
    // What it already received is held (Hold, HoldDatagram).
    Cancel(index, ArmedTag(e->kind));
    return;
  }
  if (e->held_pending) {
    Defer(index, kHeld);
  } else {
    MaybeArmRecv(index);  // else the cancelled receive re-arms as it ends
  }
}

ssize_t UringBackend::Send(Handle h, const iovec* iov, int count) {
  Entry* e = Live(h);
  if (e == nullptr) return -EBADF;
  if (e->send_err != 0) return -e->send_err;
  if (e->kind != Kind::kStream) return -ENOTCONN;
  // The common case first: one small piece while nothing is staged or in
  // flight (both buffers are empty unless a send is armed).
  if (count == 1 && !e->send_armed && e->lent.bid < 0) {
    const size_t n = iov[0].iov_len;
    if (n > 0 && n <= options_.send_staging_limit &&
        (options_.direct_send_min == 0 || n < options_.direct_send_min)) {
      ++e->sends;
      Stage(e->sending, static_cast<const char*>(iov[0].iov_base), n);
      e->send_armed = true;  // the SQE is prepared at the next Enter
      unprepared_.push_back(IndexOf(h));
      return static_cast<ssize_t>(n);
    }
  }
  const size_t total = TotalOf(iov, count);
  if (total > 0) ++e->sends;
  // Nothing staged or in flight (both are empty unless a send is armed): a
  // large write goes out at once, keeping the order: from the receive
  // buffer if its bytes were lent by this batch (with the turn's
  // io_uring_enter), else straight to the socket. Small writes are staged,
  // a copy cheaper than a lent send's bookkeeping.
  const bool large = options_.direct_send_min > 0 &&
                     total >= options_.direct_send_min;
  if (!e->send_armed && large) {
    if (const int bid = LentBuffer(iov, count); bid >= 0) {
      ++send_refs_[bid];
      e->lent.bid = bid;
      e->lent.data = static_cast<const char*>(iov[0].iov_base);
      e->lent.size = static_cast<uint32_t>(total);
      e->send_armed = true;  // the SQE is prepared at the next Enter
      unprepared_.push_back(IndexOf(h));
      return static_cast<ssize_t>(total);
    }
  } else if (e->lent.bid >= 0 && !e->send_prepared) {
    StageLent(*e, 0);  // a second Send this turn: join them in staging
  }
  size_t direct = 0;
  if (!e->send_armed && large) {
    const ssize_t n = SendIov(e->fd, iov, count);
    if (n < 0 && n != -EAGAIN && n != -EINTR) return n;
    direct = n > 0 ? static_cast<size_t>(n) : 0;
    if (direct == total) return static_cast<ssize_t>(total);
  }
  const size_t staged = e->sending.size() + e->pending.size();
  const size_t room = options_.send_staging_limit > staged
                          ? options_.send_staging_limit - staged
                          : 0;
  const size_t taken = std::min(total - direct, room);
  Staging& to = e->send_prepared ? e->pending : e->sending;
  if (!to.Fits(taken)) Grow(to, taken);  // once, for all the pieces
  // Stages bytes [direct, direct + taken) of the iovecs.
  size_t skip = direct;
  size_t take = taken;
  for (int i = 0; i < count && take > 0; ++i) {
    const char* p = static_cast<const char*>(iov[i].iov_base);
    const size_t s = std::min(skip, iov[i].iov_len);
    const size_t n = std::min(take, iov[i].iov_len - s);
    Stage(to, p + s, n);
    skip -= s;
    take -= n;
  }
  if (!e->send_armed && e->sending.size() > 0) {
    e->send_armed = true;  // the SQE is prepared at the next Enter
    unprepared_.push_back(IndexOf(h));
  }
  if (direct + taken < total) e->want_send = true;
  return static_cast<ssize_t>(direct + taken);
}

ssize_t UringBackend::SendDatagram(Handle h, absl::string_view data,
                                   const SocketAddress* to) {
  Entry* e = Live(h);
  if (e == nullptr) return -EBADF;
  return SendTo(e->fd, data.data(), data.size(), to);
}

int UringBackend::ShutdownWrite(Handle h) {
  Entry* e = Live(h);
  if (e == nullptr) return -EBADF;
  if (e->kind != Kind::kStream) return io::ShutdownWrite(e->fd);
  WatchHangup(IndexOf(h));  // the peer's FIN then makes it a hang-up
  if (e->send_armed) {
    e->shut_pending = true;  // FIN after the staged bytes (SendDone)
  } else {
    SubmitShutdown(IndexOf(h));
  }
  return 0;
}

void UringBackend::PauseAccept(Handle h) {
  if (Entry* e = Live(h)) {
    e->accepting = false;
    Cancel(IndexOf(h), kAccept);
  }
}

void UringBackend::ResumeAccept(Handle h) {
  Entry* e = Live(h);
  if (e == nullptr || e->accepting) return;
  e->accepting = true;
  const uint32_t index = IndexOf(h);
  if (e->cold != nullptr) {
    for (int fd : e->cold->held_fds) Defer(index, kAccepted, fd);
    e->cold->held_fds.clear();
  }
  if (!e->armed) ArmAccept(index);
}

// Cancels what reads or waits; bytes staged keep going out (kClose, up to
// close_linger) or are dropped (kReset). The fd is closed once nothing of
// the entry is in flight (MaybeFinish).
void UringBackend::Close(Handle h, CloseMode mode) {
  Entry* e = Live(h);
  if (e == nullptr) return;
  const uint32_t index = IndexOf(h);
  const uint8_t armed_tag = ArmedTag(e->kind);
  // The poll holds the file: the fd is not released until it ends.
  if (e->hangup_armed) {
    io_uring_prep_cancel64(Sqe(index, kCancel), UserData(index, kHangup), 0);
  }
  e->kind = Kind::kClosing;
  ++closing_;
  e->close_mode = mode;
  e->sink.stream = nullptr;
  e->reading = Reading::kOff;
  if (e->cold != nullptr) {
    for (int fd : e->cold->held_fds) close(fd);
    e->cold->held_fds.clear();
    std::string().swap(e->cold->held);
  }
  e->held_pending = false;
  Cancel(index, armed_tag);
  if (mode == CloseMode::kReset && e->owns_fd) SetResetOnClose(e->fd);
  if (mode == CloseMode::kClose && e->send_armed) {
    e->draining = true;
    e->drain_deadline_ns = NowNs() +
                         absl::ToInt64Nanoseconds(options_.close_linger);
    draining_.push_back(index);
  } else {
    Cancel(index, kSend);
  }
  MaybeFinish(index);
}

// The fd is closed with the next submission (unless released).
void UringBackend::FinishClose(uint32_t index) {
  const Entry& e = entries_[index];
  if (e.owns_fd && e.close_mode != CloseMode::kRelease) closes_.push_back(e.fd);
  --closing_;
  Free(index);
}

}  // namespace actnet::io
