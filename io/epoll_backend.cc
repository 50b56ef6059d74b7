#include "io/epoll_backend.h"

#include <errno.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/socket.h"

namespace actnet::io {
namespace {

// Completion bits of the backend's own deferred work, beside the readiness
// bits of epoll_poller.h.
constexpr uint32_t kReadAgain = 1u << 8;  // read on (fairness, resumed read)
constexpr uint32_t kConnected = 1u << 9;  // a connect that finished at once

// Largest UDP payload (65,535 minus the UDP header) and then some.
constexpr size_t kMaxDatagram = 64 * 1024;

uint32_t IndexOf(Handle h) { return static_cast<uint32_t>(h); }
uint32_t GenerationOf(Handle h) { return static_cast<uint32_t>(h >> 32); }
Handle MakeHandle(uint32_t index, uint32_t generation) {
  return (static_cast<Handle>(generation) << 32) | index;
}

bool IsTransientAcceptError(int err) {
  return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM ||
         err == ECONNRESET;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EpollBackend>> EpollBackend::Create(
    const EpollBackendOptions& options) {
  if (options.read_buffer_size == 0) {
    return absl::InvalidArgumentError("epoll backend: read_buffer_size is 0");
  }
  absl::StatusOr<std::unique_ptr<EpollPoller>> poller = EpollPoller::Create();
  if (!poller.ok()) return poller.status();
  return std::unique_ptr<EpollBackend>(
      new EpollBackend(std::move(*poller), options));
}

EpollBackend::EpollBackend(std::unique_ptr<EpollPoller> poller,
                           const EpollBackendOptions& options)
    : poller_(std::move(poller)),
      edge_triggered_(options.edge_triggered),
      read_size_(options.read_buffer_size),
      datagram_size_(std::max(options.read_buffer_size, kMaxDatagram)),
      scratch_(new char[datagram_size_]),
      entries_(1) {}

EpollBackend::~EpollBackend() {
  for (Entry& e : entries_) {
    if (e.kind != Kind::kFree && e.owns_fd && e.fd >= 0) UniqueFd closer(e.fd);
  }
}

EpollBackend::Entry* EpollBackend::Live(Handle h) {
  const uint32_t i = IndexOf(h);
  if (i == 0 || i >= entries_.size()) return nullptr;
  Entry& e = entries_[i];
  return e.kind != Kind::kFree && e.generation == GenerationOf(h) ? &e
                                                                  : nullptr;
}

const EpollBackend::Entry* EpollBackend::Live(Handle h) const {
  return const_cast<EpollBackend*>(this)->Live(h);
}

absl::StatusOr<Handle> EpollBackend::Register(Kind kind, int fd, bool owns_fd,
                                              uint32_t owner, uint32_t interest,
                                              bool edge) {
  uint32_t index = free_head_;
  if (index != 0) {
    free_head_ = entries_[index].next_free;
  } else {
    index = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[index];
  e.fd = fd;
  e.owner = owner;
  e.kind = kind;
  e.owns_fd = owns_fd;
  e.edge = edge;
  e.want_send = false;
  e.parked = false;
  e.accepting = true;
  e.reading = Reading::kOn;
  e.registered = interest;
  e.sink.stream = nullptr;
  const Handle h = MakeHandle(index, e.generation);
  absl::Status s = poller_->Add(fd, interest, h);
  if (!s.ok()) {
    e.owns_fd = false;  // the caller still owns it
    Free(h);
    return s;
  }
  return h;
}

void EpollBackend::Free(Handle h) {
  const uint32_t i = IndexOf(h);
  Entry& e = entries_[i];
  e.kind = Kind::kFree;
  e.fd = -1;
  e.sink.stream = nullptr;
  // Generation 0 is never live; skip it on wrap-around.
  e.generation = e.generation + 1 == 0 ? 1 : e.generation + 1;
  e.next_free = free_head_;
  free_head_ = i;
}

uint32_t EpollBackend::StreamInterest(const Entry& e) const {
  if (e.edge) return kReadable | kWritable | kReadHangup | kEdgeTriggered;
  return (e.reading == Reading::kOn ? kReadable : 0) |
         (e.want_send ? kWritable : 0);
}

void EpollBackend::UpdateInterest(Entry& e, Handle h) {
  if (e.edge || e.parked) return;
  uint32_t want = 0;
  switch (e.kind) {
    case Kind::kStream:
      want = StreamInterest(e);
      break;
    case Kind::kDatagram:
      want = e.reading == Reading::kOn ? kReadable : 0;
      break;
    case Kind::kAcceptor:
      want = e.accepting ? kReadable : 0;
      break;
    default:
      return;
  }
  if (want == e.registered) return;
  e.registered = want;
  (void)poller_->Modify(e.fd, want, h);
}

// ---------------------------------------------------------------------------
// Registration.

absl::Status EpollBackend::AddWaker(int fd) {
  // Edge-triggered: a write wakes one wait and needs no read to re-arm.
  absl::StatusOr<Handle> h = Register(Kind::kWaker, fd, false, kNoOwner,
                                      kReadable | kEdgeTriggered, true);
  return h.status();
}

absl::StatusOr<Handle> EpollBackend::AddStream(UniqueFd fd, StreamSink* sink,
                                               uint32_t owner) {
  const int raw = fd.Get();
  const uint32_t interest =
      edge_triggered_ ? kReadable | kWritable | kReadHangup | kEdgeTriggered
                      : kReadable;
  absl::StatusOr<Handle> h =
      Register(Kind::kStream, raw, true, owner, interest, edge_triggered_);
  if (!h.ok()) return h.status();  // `fd` closes the socket
  fd.Release();
  entries_[IndexOf(*h)].sink.stream = sink;
  return h;
}

absl::StatusOr<Handle> EpollBackend::Connect(const SocketAddress& remote,
                                             StreamSink* sink, uint32_t owner,
                                             int* fd) {
  bool in_progress = false;
  absl::StatusOr<UniqueFd> socket = ConnectStream(remote, &in_progress);
  if (!socket.ok()) return socket.status();
  *fd = socket->Get();
  if (!in_progress) {
    absl::StatusOr<Handle> h = AddStream(std::move(*socket), sink, owner);
    if (h.ok()) Defer(*h, kConnected);
    return h;
  }
  // Writable (level-triggered, in either mode) once the connect finishes.
  absl::StatusOr<Handle> h =
      Register(Kind::kConnecting, socket->Get(), true, owner, kWritable, false);
  if (!h.ok()) return h.status();
  socket->Release();
  entries_[IndexOf(*h)].sink.stream = sink;
  return h;
}

absl::StatusOr<Handle> EpollBackend::AddDatagram(int fd, bool owned,
                                                 DatagramSink* sink,
                                                 uint32_t owner) {
  absl::StatusOr<Handle> h =
      Register(Kind::kDatagram, fd, owned, owner, kReadable, false);
  if (h.ok()) entries_[IndexOf(*h)].sink.datagram = sink;
  return h;
}

absl::StatusOr<Handle> EpollBackend::AddAcceptor(int fd, AcceptSink* sink,
                                                 uint32_t owner) {
  absl::StatusOr<Handle> h =
      Register(Kind::kAcceptor, fd, false, owner, kReadable, false);
  if (h.ok()) entries_[IndexOf(*h)].sink.accept = sink;
  return h;
}

// ---------------------------------------------------------------------------
// Operations.

void EpollBackend::SetReading(Handle h, Reading reading) {
  Entry* e = Live(h);
  if (e == nullptr || e->reading == reading) return;
  e->reading = reading;
  if (reading != Reading::kOn) {
    UpdateInterest(*e, h);
    return;
  }
  if (e->parked) {
    // Back on epoll, which reports the unread bytes and then the hang-up.
    e->parked = false;
    e->registered = e->kind == Kind::kStream ? StreamInterest(*e) : kReadable;
    (void)poller_->Add(e->fd, e->registered, h);
  } else if (e->edge) {
    // Bytes that arrived meanwhile raise no new edge.
    Defer(h, kReadAgain);
  } else {
    UpdateInterest(*e, h);
  }
}

ssize_t EpollBackend::Send(Handle h, const iovec* iov, int count) {
  Entry* e = Live(h);
  if (e == nullptr) return -EBADF;
  ssize_t n = SendIov(e->fd, iov, count);
  if (n < 0) {
    if (n != -EAGAIN && n != -EINTR) return n;
    n = 0;
  }
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  if (static_cast<size_t>(n) < total && !e->want_send) {
    e->want_send = true;
    UpdateInterest(*e, h);
  }
  return n;
}

ssize_t EpollBackend::SendDatagram(Handle h, absl::string_view data,
                                   const SocketAddress* to) {
  Entry* e = Live(h);
  if (e == nullptr) return -EBADF;
  return SendTo(e->fd, data.data(), data.size(), to);
}

int EpollBackend::ShutdownWrite(Handle h) {
  Entry* e = Live(h);
  return e == nullptr ? -EBADF : io::ShutdownWrite(e->fd);
}

void EpollBackend::PauseAccept(Handle h) {
  if (Entry* e = Live(h)) {
    e->accepting = false;
    UpdateInterest(*e, h);
  }
}

void EpollBackend::ResumeAccept(Handle h) {
  if (Entry* e = Live(h)) {
    e->accepting = true;
    UpdateInterest(*e, h);
  }
}

void EpollBackend::Close(Handle h, CloseMode mode) {
  Entry* e = Live(h);
  if (e == nullptr) return;
  if (!e->parked) (void)poller_->Remove(e->fd);
  if (mode == CloseMode::kReset) SetResetOnClose(e->fd);
  if (mode != CloseMode::kRelease && e->owns_fd) UniqueFd closer(e->fd);
  Free(h);
}

// ---------------------------------------------------------------------------
// Waiting and dispatch.

int EpollBackend::Poll(absl::Span<Completion> out, int timeout_ms) {
  size_t n = 0;
  if (!deferred_.empty()) {
    n = std::min(out.size(), deferred_.size());
    std::copy_n(deferred_.begin(), n, out.begin());
    deferred_.erase(deferred_.begin(),
                    deferred_.begin() + static_cast<ptrdiff_t>(n));
    timeout_ms = 0;
  }
  const size_t room = out.size() - n;
  if (room == 0) return static_cast<int>(n);
  if (events_.size() < room) events_.resize(room);
  const int got =
      poller_->Wait(absl::MakeSpan(events_.data(), room), timeout_ms);
  for (int i = 0; i < got; ++i) {
    out[n++] = Completion{events_[static_cast<size_t>(i)].token,
                          events_[static_cast<size_t>(i)].events, 0};
  }
  return static_cast<int>(n);
}

int EpollBackend::PollMore(absl::Span<Completion> out, int ready) {
  const int more = Poll(out.subspan(static_cast<size_t>(ready)), 0);
  int n = ready;
  for (int i = ready; i < ready + more; ++i) {
    int j = 0;
    while (j < ready && out[j].handle != out[i].handle) ++j;
    if (j < ready) {
      out[j].bits |= out[i].bits;  // a level-triggered fd, reported again
    } else {
      out[n++] = out[i];
    }
  }
  return n;
}

uint32_t EpollBackend::OwnerOf(const Completion& c) const {
  const Entry* e = Live(c.handle);
  return e == nullptr ? kNoOwner : e->owner;
}

void EpollBackend::Dispatch(const Completion& c) {
  const Entry* e = Live(c.handle);
  if (e == nullptr) return;
  switch (e->kind) {
    case Kind::kStream:
      StreamEvent(c.handle, c.bits);
      break;
    case Kind::kConnecting:
      ConnectEvent(c.handle);
      break;
    case Kind::kAcceptor:
      AcceptEvent(c.handle);
      break;
    case Kind::kDatagram:
      DatagramEvent(c.handle);
      break;
    case Kind::kWaker:
    case Kind::kFree:
      break;
  }
}

void EpollBackend::StreamEvent(Handle h, uint32_t bits) {
  Entry* e = Live(h);
  if ((bits & kConnected) != 0) {
    e->sink.stream->OnConnected(0);
    return;
  }
  if ((bits & (kError | kHangup)) != 0 &&
      (bits & (kReadable | kWritable)) == 0) {
    const int err = SocketError(e->fd);
    if (err == 0 && e->reading == Reading::kPaused && !e->want_send) {
      // Unread bytes may precede the hang-up: keep them for when reading
      // resumes, off epoll meanwhile.
      (void)poller_->Remove(e->fd);
      e->parked = true;
      return;
    }
    e->sink.stream->OnHangup(err);
    return;
  }
  // Writable first: drain output before taking more input.
  if ((bits & kWritable) != 0 && e->want_send) {
    e->want_send = false;
    e->sink.stream->OnSendReady();
    if ((e = Live(h)) == nullptr) return;
  }
  if ((bits & (kReadable | kReadHangup | kReadAgain)) != 0 &&
      e->reading == Reading::kOn) {
    ReadStream(h, (bits & (kReadHangup | kHangup | kReadAgain)) != 0);
    if ((e = Live(h)) == nullptr) return;
  }
  UpdateInterest(*e, h);
}

void EpollBackend::ConnectEvent(Handle h) {
  Entry* e = Live(h);
  const int err = SocketError(e->fd);
  if (err == 0) {
    e->kind = Kind::kStream;
    e->edge = edge_triggered_;
    e->registered = StreamInterest(*e);
    (void)poller_->Modify(e->fd, e->registered, h);
  }
  e->sink.stream->OnConnected(err);
}

// Level-triggered: one read per event. Edge-triggered: a short read emptied
// the socket and the next arrival raises a new edge, unless the peer's FIN
// came with it (`hangup`): then read on to see the EOF.
void EpollBackend::ReadStream(Handle h, bool hangup) {
  for (int reads = 0;; ++reads) {
    Entry* e = Live(h);
    if (e == nullptr || e->reading != Reading::kOn) return;
    if (reads == kReadsPerTurn) {
      Defer(h, kReadAgain);
      return;
    }
    const ssize_t n = Recv(e->fd, scratch_.get(), read_size_);
    if (n > 0) {
      e->sink.stream->OnRead(
          absl::string_view(scratch_.get(), static_cast<size_t>(n)));
      if (!edge_triggered_) return;
      if (static_cast<size_t>(n) < read_size_ && !hangup) return;
      continue;
    }
    if (n == 0) {
      e->sink.stream->OnReadEof();
      return;
    }
    if (n == -EAGAIN || n == -EINTR) return;
    e->sink.stream->OnHangup(static_cast<int>(-n));
    return;
  }
}

void EpollBackend::AcceptEvent(Handle h) {
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    Entry* e = Live(h);
    if (e == nullptr || !e->accepting) return;
    SocketAddress peer;
    const int result = AcceptNonBlocking(e->fd, &peer);
    if (result >= 0) {
      e->sink.accept->OnAccepted(UniqueFd(result), peer);
      continue;
    }
    const int err = -result;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (IsTransientAcceptError(err)) continue;
    // EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: the connection stays in the
    // backlog and readiness would fire again at once, so stop until told.
    e->accepting = false;
    UpdateInterest(*e, h);
    e->sink.accept->OnAcceptError(err);
    return;
  }
}

void EpollBackend::DatagramEvent(Handle h) {
  for (int i = 0; i < kDatagramsPerEvent; ++i) {
    Entry* e = Live(h);
    if (e == nullptr || e->reading != Reading::kOn) return;
    if (!ReceiveDatagram(e->fd, scratch_.get(), datagram_size_,
                         e->sink.datagram)) {
      return;
    }
  }
}

}  // namespace actnet::io
