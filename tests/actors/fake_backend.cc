#include "tests/actors/fake_backend.h"

#include <errno.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "actors/admission.h"

namespace actnet::testing {
namespace {

const char* ReadingName(io::Reading r) {
  switch (r) {
    case io::Reading::kOn:
      return "on";
    case io::Reading::kPaused:
      return "paused";
    case io::Reading::kOff:
      return "off";
  }
  return "?";
}

const char* CloseName(io::CloseMode m) {
  switch (m) {
    case io::CloseMode::kClose:
      return "close";
    case io::CloseMode::kReset:
      return "reset";
    case io::CloseMode::kRelease:
      return "release";
  }
  return "?";
}

}  // namespace

// ---------------------------------------------------------------------------
// FakeBackend.

std::vector<std::string> FakeBackend::TakeOps() {
  std::vector<std::string> recent(ops_.begin() + static_cast<ptrdiff_t>(ops_taken_),
                                  ops_.end());
  ops_taken_ = ops_.size();
  return recent;
}

FakeBackend::Stream* FakeBackend::Live(io::Handle h) {
  auto it = streams_.find(h);
  return it == streams_.end() || it->second.closed ? nullptr : &it->second;
}

const FakeBackend::Stream* FakeBackend::Live(io::Handle h) const {
  return const_cast<FakeBackend*>(this)->Live(h);
}

FakeBackend::Stream* FakeBackend::LiveFor(io::Handle h, absl::string_view op) {
  Stream* s = Live(h);
  if (s == nullptr) {
    ++stale_calls_;
    ops_.push_back(absl::StrCat("stale ", op));
  }
  return s;
}

absl::StatusOr<io::Handle> FakeBackend::NewStream(io::UniqueFd fd,
                                                  io::StreamSink* sink,
                                                  uint32_t owner,
                                                  const char* op) {
  if (refuse_streams_) {
    return absl::ResourceExhaustedError(absl::StrCat("fake ", op, ": refused"));
  }
  const io::Handle h = next_++;
  Stream& s = streams_[h];
  s.sink = sink;
  s.owner = owner;
  s.fd = std::move(fd);
  last_ = h;
  ops_.push_back(op);
  return h;
}

absl::StatusOr<io::Handle> FakeBackend::AddStream(io::UniqueFd fd,
                                                  io::StreamSink* sink,
                                                  uint32_t owner) {
  return NewStream(std::move(fd), sink, owner, "add");
}

absl::StatusOr<io::Handle> FakeBackend::Connect(const io::SocketAddress& remote,
                                                io::StreamSink* sink,
                                                uint32_t owner, int* fd) {
  *fd = -1;
  return NewStream(io::UniqueFd(), sink, owner, "connect");
}

absl::StatusOr<io::Handle> FakeBackend::AddDatagram(int fd, bool owned,
                                                    io::DatagramSink* sink,
                                                    uint32_t owner) {
  return absl::UnimplementedError("fake backend: no datagram sockets");
}

absl::StatusOr<io::Handle> FakeBackend::AddAcceptor(int fd, io::AcceptSink* sink,
                                                    uint32_t owner) {
  return absl::UnimplementedError("fake backend: no listening sockets");
}

void FakeBackend::SetReading(io::Handle h, io::Reading reading) {
  if (LiveFor(h, "reading") == nullptr) return;
  ops_.push_back(absl::StrCat("reading ", ReadingName(reading)));
}

ssize_t FakeBackend::Send(io::Handle h, const iovec* iov, int count) {
  Stream* s = LiveFor(h, "send");
  if (s == nullptr) return -EBADF;
  if (send_error_ != 0) {
    ops_.push_back(absl::StrCat("send error ", send_error_));
    return -send_error_;
  }
  size_t offered = 0;
  size_t taken = 0;
  for (int i = 0; i < count; ++i) {
    offered += iov[i].iov_len;
    const size_t n = std::min(iov[i].iov_len, room_ - taken);
    s->sent.append(static_cast<const char*>(iov[i].iov_base), n);
    taken += n;
  }
  if (room_ != kUnlimited) room_ -= taken;
  if (taken < offered) s->send_ready_owed = true;
  ops_.push_back(absl::StrCat("send ", taken, "/", offered));
  send_iovecs_.push_back(count);
  return static_cast<ssize_t>(taken);
}

ssize_t FakeBackend::SendDatagram(io::Handle h, absl::string_view data,
                                  const io::SocketAddress* to) {
  LiveFor(h, "datagram");
  return -EOPNOTSUPP;
}

int FakeBackend::ShutdownWrite(io::Handle h) {
  if (LiveFor(h, "shutdown") == nullptr) return -EBADF;
  ops_.push_back(shutdown_error_ == 0 ? std::string("shutdown")
                                      : absl::StrCat("shutdown error ", shutdown_error_));
  return -shutdown_error_;
}

void FakeBackend::Close(io::Handle h, io::CloseMode mode) {
  Stream* s = LiveFor(h, "close");
  if (s == nullptr) return;
  ops_.push_back(absl::StrCat("close ", CloseName(mode)));
  s->closed = true;
  if (mode == io::CloseMode::kRelease) {
    (void)s->fd.Release();
  } else {
    s->fd.Reset();
  }
}

// ---------------------------------------------------------------------------
// Completions.

void FakeBackend::Queue(io::Handle h, Kind kind, absl::string_view data, int err) {
  queued_.push_back(Outcome{h, kind, std::string(data), err});
}

void FakeBackend::QueueRead(io::Handle h, absl::string_view data) {
  Queue(h, kRead, data, 0);
}
void FakeBackend::QueueEof(io::Handle h) { Queue(h, kEof, "", 0); }
void FakeBackend::QueueSendReady(io::Handle h) { Queue(h, kSendReady, "", 0); }
void FakeBackend::QueueHangup(io::Handle h, int err) { Queue(h, kHangup, "", err); }
void FakeBackend::QueueConnected(io::Handle h, int err) {
  Queue(h, kConnected, "", err);
}

int FakeBackend::Poll(absl::Span<io::Completion> out, int timeout_ms) {
  size_t n = 0;
  while (n < out.size() && !queued_.empty()) {
    const int32_t id = next_id_++;
    out[n++] = io::Completion{queued_.front().handle, queued_.front().kind, id};
    polled_.emplace(id, std::move(queued_.front()));
    queued_.pop_front();
  }
  return static_cast<int>(n);
}

uint32_t FakeBackend::OwnerOf(const io::Completion& c) const {
  const Stream* s = Live(c.handle);
  return s == nullptr ? kNoOwner : s->owner;
}

void FakeBackend::Dispatch(const io::Completion& c) {
  auto it = polled_.find(c.result);
  if (it == polled_.end()) return;
  const Outcome o = std::move(it->second);
  polled_.erase(it);
  Stream* s = Live(c.handle);
  if (s == nullptr) return;  // closed earlier in the batch: not delivered
  switch (o.kind) {
    case kRead:
      s->sink->OnRead(o.data);
      break;
    case kEof:
      s->sink->OnReadEof();
      break;
    case kSendReady:
      s->send_ready_owed = false;
      s->sink->OnSendReady();
      break;
    case kHangup:
      s->sink->OnHangup(o.err);
      break;
    case kConnected:
      s->sink->OnConnected(o.err);
      break;
  }
}

// ---------------------------------------------------------------------------
// FakeLoop.

FakeLoop::FakeLoop(FakeBackend* fake, const EngineOptions& opts) : options_(opts) {
  backend = fake;
  options = &options_;
  clock_ns = 1'000'000'000;
}

FakeLoop::~FakeLoop() = default;

internal::StreamConn* FakeLoop::NewStream(std::unique_ptr<Handler> handler) {
  auto conn = std::make_unique<internal::StreamConn>(this, std::move(handler),
                                                     io::SocketAddress());
  internal::StreamConn* raw = conn.get();
  table_.Register(std::move(conn));
  return raw;
}

internal::StreamConn* FakeLoop::Accept(std::unique_ptr<Handler> handler) {
  internal::StreamConn* conn = NewStream(std::move(handler));
  conn->Accept(io::UniqueFd(), Admission());
  return conn;
}

void FakeLoop::Advance(absl::Duration d) {
  clock_ns += absl::ToInt64Nanoseconds(d);
  timers_.RunDue(clock_ns);
}

void FakeLoop::EndIteration() {
  timers_.RunDue(clock_ns);
  while (!flush_list.empty()) {
    internal::StreamConn* c = flush_list.back();
    flush_list.pop_back();
    c->FlushDeferred();
  }
  graveyard_.clear();
}

int FakeLoop::RunIteration() {
  io::Completion events[16];
  const int n = backend->Poll(absl::MakeSpan(events), 0);
  for (int i = 0; i < n; ++i) {
    if (backend->OwnerOf(events[i]) == io::Backend::kNoOwner) continue;
    backend->Dispatch(events[i]);
  }
  EndIteration();
  return n;
}

void FakeLoop::RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  timers_.Schedule(clock_ns + absl::ToInt64Nanoseconds(delay), std::move(fn));
}

Actor* FakeLoop::Find(const ActorRef& ref) const {
  return ref.loop == table_.loop_index() ? table_.Resolve(ref.target()) : nullptr;
}

void FakeLoop::Release(Conn& conn, bool counted, const CloseReason&) {
  ++releases_;
  if (std::unique_ptr<Actor> dead = table_.Unregister(conn.ref())) {
    graveyard_.push_back(std::move(dead));
  }
}

}  // namespace actnet::testing
