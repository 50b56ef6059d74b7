// UringBackend's waiting, completion and dispatch half (uring_backend.h).
// Poll does the bookkeeping of every CQE (operations in flight, re-arming,
// staged sends, closed entries) so that it holds whether or not the loop
// dispatches the completion; Dispatch only calls sinks.
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "absl/base/attributes.h"
#include "io/socket.h"
#include "io/uring_backend.h"

namespace actnet::io {
namespace {

// IORING_CQE_F_BUF_MORE (kernel 6.12): the completion's buffer is only
// partly filled and stays with the kernel.
constexpr uint32_t kCqeBufMore = 1u << 4;

bool IsTransientAcceptError(int err) {
  return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM ||
         err == ECONNRESET || err == EAGAIN;
}

}  // namespace

int64_t UringBackend::NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ---------------------------------------------------------------------------
// Waiting.

int UringBackend::Poll(absl::Span<Completion> out, int timeout_ms) {
  Recycle();
  return Fill(out, 0, timeout_ms);
}

int UringBackend::PollMore(absl::Span<Completion> out, int ready) {
  return Fill(out, ready, 0);
}

// The two completions of every request/reply exchange, without Harvest's
// general bookkeeping. Each returns false, having changed nothing, for
// anything else, which Harvest then takes; what they do is what Harvest
// does in their case.
//
// A send that sent all of `sending` for a stream, with nothing gathered
// behind it and no one waiting on it (no OnSendReady owed, no shutdown,
// no zero-copy notification, no lent bytes): the buffer is kept for the
// next send. Never emits.
inline bool UringBackend::HarvestWholeSend(const io_uring_cqe& cqe,
                                           uint32_t index) {
  if ((cqe.flags & (IORING_CQE_F_MORE | IORING_CQE_F_NOTIF)) != 0 ||
      index == 0 || index >= entries_.size()) {
    return false;
  }
  Entry& e = entries_[index];
  if (e.kind != Kind::kStream || cqe.res < 0 ||
      static_cast<size_t>(cqe.res) != e.sending.size() ||
      e.pending.size() != 0 || e.lent.bid >= 0 || e.sending_notifs != 0 ||
      e.want_send || e.shut_pending) {
    return false;
  }
  --e.inflight;
  e.send_armed = e.send_prepared = false;
  e.draining = false;
  Empty(e.sending);
  return true;
}

// The res > 0 bytes a receive read into stream buffer bid (incremental
// consumption, bid < consumed_.size()), at the buffer's fill mark: lent
// until the next batch; returns their index in lent_. A buffer filled to
// its end is queued to go back to the kernel then. Always inlined: it is
// most of HarvestStreamBytes, which a call would cost a fifth more.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t UringBackend::LendIncremental(
    uint16_t bid, int res) {
  uint32_t& filled = consumed_[bid];
  const uint32_t offset = filled;
  filled += static_cast<uint32_t>(res);
  if (filled >= options_.buffer_size) {
    filled = 0;
    done_.push_back(bid);
  }
  const auto piece = static_cast<uint32_t>(lent_.size());
  lent_.push_back(Piece{bid, false, offset});
  return piece;
}

// Bytes a multishot receive read into the stream ring (incremental
// buffers) for a stream reading as usual: lent, and emitted into *c.
inline bool UringBackend::HarvestStreamBytes(const io_uring_cqe& cqe,
                                             uint32_t index, Completion* c) {
  constexpr uint32_t kWant = IORING_CQE_F_MORE | IORING_CQE_F_BUFFER;
  if ((cqe.flags & kWant) != kWant || cqe.res <= 0 || !incremental_ ||
      index == 0 || index >= entries_.size()) {
    return false;
  }
  const auto bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  const Entry& e = entries_[index];
  if (bid >= consumed_.size() || e.kind != Kind::kStream ||
      e.reading != Reading::kOn || e.held_pending) {
    return false;
  }
  const uint32_t piece = LendIncremental(bid, cqe.res);
  *c = Completion{HandleOf(index), kRecv | kBuffer | (piece << kBufferShift),
                  cqe.res};
  return true;
}

int UringBackend::Fill(absl::Span<Completion> out, int n, int timeout_ms) {
  size_t i = static_cast<size_t>(n);
  while (i < out.size() && !deferred_.empty()) {
    out[i++] = deferred_.front();
    deferred_.pop_front();
  }
  if (i > 0 || io_uring_cq_ready(&ring_) > 0) timeout_ms = 0;
  if (!draining_.empty()) timeout_ms = CheckDrains(timeout_ms);
  Enter(timeout_ms);
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    // The rest waits for the next batch.
    if (i == out.size() || lent_.size() == kMaxLent) break;
    ++seen;
    const uint32_t index = IndexOfUserData(cqe->user_data);
    const uint8_t tag = TagOfUserData(cqe->user_data);
    if (tag == kSend && HarvestWholeSend(*cqe, index)) continue;
    if ((tag == kRecv && HarvestStreamBytes(*cqe, index, &out[i])) ||
        Harvest(*cqe, &out[i])) {
      ++i;
    }
  }
  io_uring_cq_advance(&ring_, seen);
  return static_cast<int>(i);
}

// Submits what was prepared and waits; one io_uring_enter either way.
void UringBackend::Enter(int timeout_ms) {
  Enable();
  if (!unprepared_.empty()) PrepareSends();
  if (!closes_.empty()) PrepareCloses();
  if (timeout_ms == 0) {
    io_uring_submit_and_get_events(&ring_);
    return;
  }
  if (timeout_ms < 0) {
    // The queue was seen empty: one enter that submits and waits, without
    // the timed variant's peek-and-retry loop.
    io_uring_submit_and_wait(&ring_, 1);
    return;
  }
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = int64_t{timeout_ms % 1000} * 1'000'000;
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

// A new batch: the buffers the kernel has moved past whose bytes were lent
// with the last one go back to it, then the receives that ran out of
// buffers are re-armed.
void UringBackend::Recycle() {
  lent_.clear();
  if (!done_.empty()) {
    // A buffer a lent send still reads stays in done_ until that send is
    // done.
    const auto still_read =
        std::partition(done_.begin(), done_.end(),
                       [&](uint16_t bid) { return send_refs_[bid] == 0; });
    const size_t ready = static_cast<size_t>(still_read - done_.begin());
    streams_.Add(absl::MakeConstSpan(done_.data(), ready));
    done_.erase(done_.begin(), still_read);
  }
  if (!datagrams_done_.empty()) {
    datagrams_.Add(datagrams_done_);
    datagrams_done_.clear();
  }
  for (uint32_t index : rearm_) MaybeArmRecv(index);
  rearm_.clear();
}

// Closed entries still sending: resets those past their linger; returns
// the wait, shortened to the nearest deadline.
int UringBackend::CheckDrains(int timeout_ms) {
  const int64_t now = NowNs();
  int64_t next = -1;
  size_t kept = 0;
  for (uint32_t index : draining_) {
    Entry& e = entries_[index];
    if (e.kind != Kind::kClosing || !e.draining) continue;
    if (now >= e.drain_deadline_ns) {
      e.draining = false;
      e.close_mode = CloseMode::kReset;
      SetResetOnClose(e.fd);
      Cancel(index, kSend);
      MaybeFinish(index);
      continue;
    }
    draining_[kept++] = index;
    if (next < 0 || e.drain_deadline_ns < next) next = e.drain_deadline_ns;
  }
  draining_.resize(kept);
  if (next < 0) return timeout_ms;
  const int until = static_cast<int>((next - now) / 1'000'000 + 1);
  return timeout_ms < 0 ? until : std::min(timeout_ms, until);
}

void UringBackend::Quiesce(int timeout_ms) {
  const int64_t until = NowNs() + int64_t{timeout_ms} * 1'000'000;
  Completion batch[64];
  // Completions of live entries are not dispatched: the loops are done.
  while (closing_ > 0) {
    const int64_t left = (until - NowNs()) / 1'000'000;
    if (left <= 0) break;
    Poll(absl::MakeSpan(batch), static_cast<int>(std::min<int64_t>(left, 10)));
  }
  Enter(0);  // what the last turn queued: wake-ups of other loops, cancels
  if (enabled_ && defer_taskrun_) io_uring_unregister_ring_fd(&ring_);
}

// Success posts no completion here (CQE_SKIP_SUCCESS); the target's CQE is
// tagged kWake with index 0, which ends its wait and nothing else.
bool UringBackend::QueueWake(int target, int fallback_fd) {
  if (target < 0 || fallback_fd <= 0) return false;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) return false;
  io_uring_prep_msg_ring(sqe, target, 0, UserData(0, kWake), 0);
  io_uring_sqe_set_data64(sqe, UserData(static_cast<uint32_t>(fallback_fd), kWake));
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  return true;
}

// ---------------------------------------------------------------------------
// Completions: bookkeeping here, sink calls in Dispatch.

bool UringBackend::Harvest(const io_uring_cqe& cqe, Completion* c) {
  const uint32_t index = IndexOfUserData(cqe.user_data);
  const uint8_t tag = TagOfUserData(cqe.user_data);
  if (tag == kWake) {
    // index 0: a wake-up posted to this ring, which has ended the wait.
    // Otherwise this ring's MSG_RING failed: wake by the eventfd instead.
    if (index != 0) {
      const uint64_t one = 1;
      (void)!write(static_cast<int>(index), &one, sizeof(one));
    }
    return false;
  }
  if (index == 0 || index >= entries_.size()) return false;
  Entry& e = entries_[index];
  const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  uint32_t bits = tag;
  const char* data = nullptr;
  if ((cqe.flags & IORING_CQE_F_BUFFER) != 0) {
    const auto bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    uint32_t piece = 0;
    data = Lend(tag == kRecvMsg, bid, cqe.res, &piece);
    assert(data == nullptr || tag == kRecvMsg || !incremental_ ||
           ((cqe.flags & kCqeBufMore) != 0) == (consumed_[bid] != 0));
    if (data != nullptr) bits |= kBuffer | (piece << kBufferShift);
  }
  if (!more) --e.inflight;
  bool emit = false;
  switch (tag) {
    case kRecv:
      // Bytes for a stream reading as usual: nothing to keep or re-arm.
      if (more && data != nullptr && e.kind == Kind::kStream &&
          e.reading == Reading::kOn && !e.held_pending) {
        emit = true;
      } else {
        emit = RecvDone(index, cqe.res, data, more);
      }
      break;
    case kSend:
      // A zero-copy send posts its result (with F_MORE), then a
      // notification once the kernel no longer reads the buffer.
      if ((cqe.flags & IORING_CQE_F_NOTIF) != 0) {
        SendNotified(e);
        break;
      }
      if (more) ++e.sending_notifs;
      emit = SendDone(index, cqe.res);
      break;
    case kAccept:
      emit = AcceptDone(index, cqe.res, more);
      break;
    case kPoll:
      emit = PollDone(index, cqe.res, more);
      break;
    case kRecvMsg:
      emit = RecvMsgDone(index, cqe.res, data, more);
      break;
    case kConnect:
      e.armed = e.cancelling = false;
      if (e.cold != nullptr) e.cold->connect_to.reset();
      emit = e.kind == Kind::kConnecting && cqe.res != -ECANCELED;
      break;
    case kShutdown:
      emit = e.kind == Kind::kStream && cqe.res < 0;  // Dispatch: OnHangup
      break;
    case kHangup:
      // io_uring adds POLLRDHUP to every poll: the peer's FIN posts one
      // too, which is the receive's to report.
      emit = e.kind == Kind::kStream && cqe.res > 0 &&
             (cqe.res & (POLLERR | POLLHUP)) != 0;
      if (!more) {
        e.hangup_armed = false;
        if (e.kind == Kind::kStream && cqe.res != -ECANCELED) {
          WatchHangup(index);
        }
      }
      break;
    default:
      break;
  }
  MaybeFinish(index);
  if (emit) *c = Completion{HandleOf(index), bits, cqe.res};
  return emit;
}

// The bytes a receive read into buffer bid of the stream ring (or of the
// datagram ring), lent until the next batch (nullptr when it read none);
// *piece is their index in lent_. A buffer the kernel has moved past is
// queued to go back to it then: with incremental consumption (streams
// only), once it is full (a receive of no bytes fills nothing, though its
// completion names the buffer); otherwise at once.
const char* UringBackend::Lend(bool datagram, uint16_t bid, int res,
                               uint32_t* piece) {
  if (!datagram && incremental_) {
    if (res <= 0 || bid >= consumed_.size()) return nullptr;
    *piece = LendIncremental(bid, res);
    return PieceAt(*piece);
  }
  if (bid >= (datagram ? datagrams_ : streams_).count) return nullptr;
  (datagram ? datagrams_done_ : done_).push_back(bid);
  if (res <= 0) return nullptr;
  *piece = static_cast<uint32_t>(lent_.size());
  lent_.push_back(Piece{bid, datagram, 0});
  return PieceAt(*piece);
}

// A datagram received, an error (a connected socket's ECONNREFUSED) or
// the end of the multishot: delivered at Dispatch when reading is on and
// nothing is held before it, held while paused, dropped when off.
bool UringBackend::RecvMsgDone(uint32_t index, int res, const char* data,
                               bool more) {
  Entry& e = entries_[index];
  if (!more) e.armed = e.cancelling = false;
  if (e.kind != Kind::kDatagram) return false;
  if (res == -ENOBUFS) {
    rearm_.push_back(index);  // once this batch's buffers are back
    return false;
  }
  bool emit = false;
  if (res != -ECANCELED && (res < 0 || data != nullptr)) {
    if (e.reading == Reading::kOn && !e.held_pending) {
      emit = true;
    } else if (e.reading == Reading::kPaused || e.held_pending) {
      HoldDatagram(e, data, res);
    }
  }
  if (!more) MaybeArmRecv(index);
  return emit;
}

// Held datagrams are kept in Entry::held one after another: the int
// result, then (when it is not an error) the recvmsg output of that size.
void UringBackend::HoldDatagram(Entry& e, const char* buf, int res) {
  std::string& held = e.Cold().held;
  held.append(reinterpret_cast<const char*>(&res), sizeof(res));
  if (res > 0) held.append(buf, static_cast<size_t>(res));
  e.held_pending = true;
}

bool UringBackend::RecvDone(uint32_t index, int res, const char* data,
                            bool more) {
  Entry& e = entries_[index];
  if (!more) e.armed = e.cancelling = false;
  if (res == -EINVAL && !more && e.arm_limited) {
    recv_limit_ = false;  // a kernel before IORING_RECV_MSHOT_LIM
    if (e.kind == Kind::kStream) MaybeArmRecv(index);
    return false;
  }
  if (e.kind != Kind::kStream) return false;
  if (res == -ENOBUFS) {
    rearm_.push_back(index);  // once this batch's buffers are back
    return false;
  }
  bool emit = false;
  if (res != -ECANCELED) {
    if (res == 0) {
      e.eof = true;
      WatchHangup(index);  // no receive is armed from here on
    }
    if (res < 0) e.read_err = -res;
    if (e.reading == Reading::kOn && !e.held_pending) {
      emit = true;
    } else if (e.reading == Reading::kPaused || e.held_pending) {
      Hold(e,
           data != nullptr ? absl::string_view(data, static_cast<size_t>(res))
                           : absl::string_view(),
           res);
    }
  }
  if (!more) MaybeArmRecv(index);
  return emit;
}

// One receive result kept for later: its bytes, the EOF (0) or an error.
void UringBackend::Hold(Entry& e, absl::string_view data, int res) {
  e.Cold().held.append(data.data(), data.size());
  if (res == 0) e.held_eof = true;
  if (res < 0) e.held_err = -res;
  e.held_pending = true;
}

bool UringBackend::SendDone(uint32_t index, int res) {
  Entry& e = entries_[index];
  e.send_armed = e.send_prepared = false;
  if (e.lent.bid >= 0) {
    // MSG_DONTWAIT: what the socket refused is staged (sending is empty
    // behind a lent send) and goes on as an ordinary send.
    if (res >= 0 || res == -EAGAIN) {
      StageLent(e, res > 0 ? static_cast<size_t>(res) : 0);
      res = 0;
    } else {
      ReleaseLent(e);
    }
  }
  if (res < 0) {
    if (res != -ECANCELED || e.kind != Kind::kClosing) e.send_err = -res;
    RetireSending(e);
    Empty(e.pending);
    e.draining = false;
    return e.kind == Kind::kStream;  // Dispatch: OnHangup
  }
  e.sending.begin += static_cast<size_t>(res);
  if (e.kind == Kind::kClosing && !e.draining) {  // reset or released
    RetireSending(e);
    Empty(e.pending);
    return false;
  }
  if (e.sending.size() == 0) {
    RetireSending(e);
    if (e.pending.size() > 0) std::swap(e.sending, e.pending);
  }
  if (e.sending.size() > 0) {
    SubmitSend(index);  // the rest of a short send, or what was gathered
  } else {
    if (e.shut_pending) SubmitShutdown(index);
    e.shut_pending = false;
    e.draining = false;
  }
  return e.kind == Kind::kStream && e.want_send &&
         e.sending.size() + e.pending.size() < options_.send_staging_limit;
}

// `sending` is done with (sent, or dropped): cleared for reuse, or, while
// zero-copy notifications are owed for it, set aside until they come.
void UringBackend::RetireSending(Entry& e) {
  if (e.sending_notifs == 0) {
    Empty(e.sending);
    return;
  }
  e.Cold().zc_held.emplace_back(std::move(e.sending.bytes), e.sending_notifs);
  e.sending = Staging();
  e.sending_notifs = 0;
}

// A zero-copy send's notification. A connection's notifications come in
// the order of its sends (TCP frees sent data in order), so this one is
// for the oldest buffer still owed one.
void UringBackend::SendNotified(Entry& e) {
  if (e.cold != nullptr && !e.cold->zc_held.empty()) {
    auto& held = e.cold->zc_held;
    if (--held.front().second == 0) held.erase(held.begin());
  } else if (e.sending_notifs > 0) {
    --e.sending_notifs;
  }
}

// An accept the kernel ended (cancelled, a failed accept, a full completion
// queue, even after a success) is re-armed while accepting is on.
bool UringBackend::AcceptDone(uint32_t index, int res, bool more) {
  Entry& e = entries_[index];
  if (!more) e.armed = e.cancelling = false;
  if (e.kind != Kind::kAcceptor) {
    if (res >= 0) close(res);
    return false;
  }
  bool emit = false;
  if (res >= 0) {
    if (e.accepting) {
      emit = true;
    } else {
      e.Cold().held_fds.push_back(res);  // handed out on ResumeAccept
    }
  } else if (res != -ECANCELED && !IsTransientAcceptError(-res)) {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM: stop until ResumeAccept.
    e.accepting = false;
    if (more) Cancel(index, kAccept);
    emit = true;
  }
  if (!more && e.accepting && !e.armed) ArmAccept(index);
  return emit;
}

bool UringBackend::PollDone(uint32_t index, int res, bool more) {
  Entry& e = entries_[index];
  if (!more) e.armed = e.cancelling = false;
  if (res == -ECANCELED) return false;
  switch (e.kind) {
    case Kind::kWaker:
      if (!more) ArmPoll(index);
      return false;  // it only ends a wait
    default:
      return false;
  }
}

// A multishot poll for a stream's error or hang-up, as the epoll backend
// reports them, armed where the receive may not see them: past the peer's
// FIN no receive is armed to see a reset; and a multishot receive can miss
// the reset that follows the bytes it just read (a kernel race: the two
// wake-ups fold into one issue, which reads the bytes), which only a poll
// armed after it, or a send, reports. (A paused stream is told nothing;
// the receive armed again on resuming sees the reset.) So it is armed when
// a read goes unanswered (DispatchRecv: the sink sent nothing), at the EOF
// and at ShutdownWrite; a stream
// that answers every read (request/reply) never has one, and its socket's
// wake-ups run one callback fewer. Once armed it stays. A report kicks the
// receive (Dispatch, kHangup). Multishot, because a socket past the FIN
// stays POLLRDHUP, which a one-shot poll would report again at once; this
// one posts on the socket's state changes only. Submitted with the turn,
// cancelled by Close (it holds the file).
void UringBackend::WatchHangup(uint32_t index) {
  Entry& e = entries_[index];
  if (e.hangup_armed) return;
  io_uring_prep_poll_multishot(Sqe(index, kHangup), e.fd, POLLERR | POLLHUP);
  e.hangup_armed = true;
}

// ---------------------------------------------------------------------------
// Dispatch.

uint32_t UringBackend::OwnerOf(const Completion& c) const {
  const Entry* e = Live(c.handle);
  return e == nullptr ? kNoOwner : e->owner;
}

const char* UringBackend::PieceAt(uint32_t piece) const {
  const Piece& p = lent_[piece];
  return (p.datagram ? datagrams_ : streams_).At(p.bid) + p.offset;
}

void UringBackend::Dispatch(const Completion& c) {
  Entry* e = Live(c.handle);
  const uint8_t tag = static_cast<uint8_t>(c.bits & 0xFF);
  if (e == nullptr) {
    // An fd accepted for a listener closed earlier in this batch.
    if ((tag == kAccept || tag == kAccepted) && c.result >= 0) close(c.result);
    return;
  }
  const uint32_t index = IndexOf(c.handle);
  switch (tag) {
    case kRecv:
      DispatchRecv(index, c);
      break;
    case kSend:
      if (c.result < 0) {
        e->sink.stream->OnHangup(-c.result);
      } else if (e->want_send) {
        e->want_send = false;
        e->sink.stream->OnSendReady();
      }
      break;
    case kAccept:
      if (c.result >= 0) {
        DispatchAccepted(index, c.result);
      } else {
        e->sink.accept->OnAcceptError(-c.result);
      }
      break;
    case kAccepted:
      DispatchAccepted(index, c.result);
      break;
    case kHeld:
      if (e->kind == Kind::kDatagram) {
        DeliverHeldDatagrams(index);
      } else {
        DeliverHeld(index);
      }
      break;
    case kRecvMsg:
      DispatchRecvMsg(index, c);
      break;
    case kConnect:
      DispatchConnect(index, c.result);
      break;
    case kShutdown:
      e->sink.stream->OnHangup(-c.result);
      break;
    case kHangup: {
      // A reset is reported here. A plain hang-up (both FINs) is the EOF's
      // to report, which may still be held behind unread bytes, or missed
      // by the receive armed: a fresh one (re-armed as the cancelled one
      // ends) reads what is left, then the EOF.
      const int err = SocketError(e->fd);
      if (err != 0) {
        e->sink.stream->OnHangup(err);
      } else if (!e->eof && e->armed && e->reading == Reading::kOn) {
        Cancel(index, kRecv);
      }
      break;
    }
    default:
      break;
  }
}

// Reads held (paused meanwhile, or behind held bytes) keep their order.
void UringBackend::DispatchRecv(uint32_t index, const Completion& c) {
  Entry& e = entries_[index];
  const bool has_data = c.result > 0 && (c.bits & kBuffer) != 0;
  const absl::string_view data =
      has_data ? absl::string_view(PieceAt(c.bits >> kBufferShift),
                                   static_cast<size_t>(c.result))
               : absl::string_view();
  if (e.reading == Reading::kOff) return;
  if (e.reading == Reading::kPaused || e.held_pending) {
    Hold(e, data, c.result);
    return;
  }
  if (has_data) {
    const Handle h = HandleOf(index);
    const uint32_t sends = e.sends;
    e.sink.stream->OnRead(data);
    // Unanswered: nothing sent will report a reset the receive missed.
    const Entry* live = Live(h);
    if (live != nullptr && live->sends == sends) WatchHangup(index);
  } else if (c.result == 0) {
    e.sink.stream->OnReadEof();
  } else if (c.result < 0) {
    e.sink.stream->OnHangup(-c.result);
  }
}

// In buffer-sized pieces, so a sink that pauses again (back-pressure)
// takes no more than it would have from the kernel.
void UringBackend::DeliverHeld(uint32_t index) {
  Entry* e = &entries_[index];
  if (e->reading != Reading::kOn || !e->held_pending) return;
  const std::string held = std::move(e->Cold().held);
  e->cold->held.clear();
  const bool eof = e->held_eof;
  const int err = e->held_err;
  e->held_pending = e->held_eof = false;
  e->held_err = 0;
  const Handle h = HandleOf(index);
  size_t done = 0;
  while (done < held.size()) {
    const size_t n = std::min<size_t>(held.size() - done, options_.buffer_size);
    e->sink.stream->OnRead(absl::string_view(held).substr(done, n));
    done += n;
    if ((e = Live(h)) == nullptr || e->reading == Reading::kOff) return;
    if (e->reading == Reading::kPaused) break;
  }
  if (e->reading == Reading::kPaused) {  // paused again: hold the rest
    e->Cold().held.assign(held, done, std::string::npos);
    e->held_eof = eof;
    e->held_err = err;
    e->held_pending = !e->cold->held.empty() || eof || err != 0;
    return;
  }
  if (eof) e->sink.stream->OnReadEof();
  if (err != 0 && (e = Live(h)) != nullptr) e->sink.stream->OnHangup(err);
  if (Live(h) != nullptr) MaybeArmRecv(index);
}

void UringBackend::DispatchAccepted(uint32_t index, int fd) {
  Entry& e = entries_[index];
  SocketAddress peer;
  absl::StatusOr<SocketAddress> address = PeerAddress(fd);
  if (address.ok()) peer = *address;
  e.sink.accept->OnAccepted(UniqueFd(fd), peer);
}

// Connected: reading (and the hang-up watch) start here.
void UringBackend::DispatchConnect(uint32_t index, int res) {
  Entry& e = entries_[index];
  if (res == 0) {
    e.kind = Kind::kStream;
    ArmRecv(index);
  }
  e.sink.stream->OnConnected(-res);
}

void UringBackend::DispatchRecvMsg(uint32_t index, const Completion& c) {
  Entry& e = entries_[index];
  const char* buf =
      (c.bits & kBuffer) != 0 ? PieceAt(c.bits >> kBufferShift) : nullptr;
  if (e.reading == Reading::kOff) return;
  if (e.reading == Reading::kPaused || e.held_pending) {
    HoldDatagram(e, buf, c.result);
    return;
  }
  DeliverDatagram(e.sink.datagram, buf, c.result);
}

// One recvmsg result: an error, or the output of a multishot recvmsg
// (io_uring_recvmsg_out, the sender's address, the payload).
void UringBackend::DeliverDatagram(DatagramSink* sink, const char* buf,
                                   int res) {
  if (res < 0) {
    sink->OnDatagramError(-res);
    return;
  }
  msghdr msg = datagram_msg_;
  io_uring_recvmsg_out* out =
      io_uring_recvmsg_validate(const_cast<char*>(buf), res, &msg);
  if (out == nullptr) return;
  const socklen_t namelen =
      std::min<socklen_t>(out->namelen, sizeof(sockaddr_storage));
  const SocketAddress from = SocketAddress::FromRaw(
      static_cast<const sockaddr*>(io_uring_recvmsg_name(out)), namelen);
  if ((out->flags & MSG_TRUNC) != 0) {
    sink->OnDatagramTooLarge(out->payloadlen, from);
    return;
  }
  const auto* payload =
      static_cast<const char*>(io_uring_recvmsg_payload(out, &msg));
  sink->OnDatagram(
      absl::string_view(payload, io_uring_recvmsg_payload_length(
                                     out, res, &msg)),
      from);
}

// Held datagrams in order; a sink that pauses again part-way keeps the
// rest held.
void UringBackend::DeliverHeldDatagrams(uint32_t index) {
  Entry* e = &entries_[index];
  if (e->reading != Reading::kOn || !e->held_pending) return;
  const std::string held = std::move(e->Cold().held);
  e->cold->held.clear();
  e->held_pending = false;
  const Handle h = HandleOf(index);
  size_t at = 0;
  while (at < held.size()) {
    int res;
    std::memcpy(&res, held.data() + at, sizeof(res));
    const char* buf = held.data() + at + sizeof(res);
    at += sizeof(res) + (res > 0 ? static_cast<size_t>(res) : 0);
    DeliverDatagram(e->sink.datagram, buf, res);
    if ((e = Live(h)) == nullptr || e->reading == Reading::kOff) return;
    if (e->reading == Reading::kPaused) break;
  }
  if (at < held.size()) {
    e->Cold().held.assign(held, at, std::string::npos);
    e->held_pending = true;
    return;
  }
  MaybeArmRecv(index);
}

}  // namespace actnet::io
