#include "actors/connection.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/check.h"
#include "actors/conn_messages.h"
#include "actors/event_loop.h"
#include "io/socket.h"

namespace actnet {

std::string CloseReason::ToString() const {
  switch (kind) {
    case Kind::kLocal:
      return "closed locally";
    case Kind::kPeerClosed:
      return "closed by peer";
    case Kind::kError:
      return absl::StrCat("socket error: ", std::strerror(error));
    case Kind::kEngineStopped:
      return "engine stopped";
    case Kind::kTimeout:
      return "timed out flushing output";
    case Kind::kConnectFailed:
      return absl::StrCat("connect failed: ", std::strerror(error));
    case Kind::kIdle:
      return "idle timeout";
    case Kind::kInboundLimit:
      return "inbound buffer limit exceeded";
  }
  return "unknown";
}

Conn::Conn(EventLoop* loop, io::UniqueFd fd, std::unique_ptr<Handler> handler,
           const io::SocketAddress& remote)
    : loop_(loop),
      fd_(std::move(fd)),
      handler_(std::move(handler)),
      remote_(remote) {}

Conn::~Conn() {
  if (!owns_fd_) fd_.Release();  // the listener owns it
}

void Conn::PauseReading() {
  AssertOnLoop();
  user_paused_ = true;
  loop_->AfterOutput(*this);
}

void Conn::ResumeReading() {
  AssertOnLoop();
  if (!user_paused_) return;
  user_paused_ = false;
  loop_->AfterOutput(*this);
  // Bytes that arrived meanwhile raise no new edge in edge-triggered mode.
  if (loop_->options_.edge_triggered) loop_->read_again_.push_back(ref());
}

void Conn::AssertOnLoop() const {
  ACTNET_DCHECK_MSG(loop_->IsCurrent() || !loop_->thread_.joinable(),
                    "Conn used off its loop thread; use Engine::AsyncWrite/Tell");
}

absl::string_view Conn::Peek(size_t n) {
  AssertOnLoop();
  if (view_len_ != 0) return absl::string_view(view_, std::min(n, view_len_));
  const size_t available = in_.size() - consumed_;
  if (available == 0) return absl::string_view();
  // Linearise everything once: no bytes arrive while a handler runs, so
  // views handed out earlier in this event stay valid.
  absl::string_view all = in_.Contiguous(in_.size());
  return all.substr(consumed_, std::min(n, available));
}

absl::string_view Conn::Next(size_t n) {
  absl::string_view v = Peek(n);
  Advance(v.size());
  return v;
}

size_t Conn::Discard(size_t n) {
  AssertOnLoop();
  const size_t k = std::min(n, InboundBytes());
  Advance(k);
  return k;
}

void Conn::Advance(size_t k) {
  if (view_len_ != 0) {
    view_ += k;
    view_len_ -= k;
  } else {
    // Consumed ring bytes are released after the handler returns (Settle),
    // so views into the ring outlive this call.
    consumed_ += k;
  }
}

size_t Conn::Read(void* dst, size_t n) {
  absl::string_view v = Peek(n);
  std::memcpy(dst, v.data(), v.size());
  return Discard(v.size());
}

size_t Conn::InboundBytes() const {
  return view_len_ != 0 ? view_len_ : in_.size() - consumed_;
}
size_t Conn::OutboundBytes() const { return out_.size(); }

void Conn::Write(absl::string_view data) {
  AssertOnLoop();
  loop_->Write(*this, data);
}

void Conn::Writev(absl::Span<const absl::string_view> parts) {
  AssertOnLoop();
  for (absl::string_view p : parts) loop_->Write(*this, p);
}

void Conn::Flush() {
  AssertOnLoop();
  if (loop_->gather_conn_ == this) loop_->FlushGather(*this);
  loop_->FlushQueued(*this);
}

void Conn::Close() {
  AssertOnLoop();
  loop_->CloseGracefully(*this, CloseReason{CloseReason::Kind::kLocal, 0});
}

void Conn::ShutdownWrite() {
  AssertOnLoop();
  if (state_ != State::kOpen || datagram_ || shutdown_write_) return;
  if (peer_eof_) {  // both directions done: an ordinary close
    Close();
    return;
  }
  shutdown_write_ = true;
  loop_->AfterOutput(*this);  // sends the FIN now if nothing is queued
}

void Conn::Abort() {
  AssertOnLoop();
  loop_->Abort(*this);
}

void Conn::Close(absl::AnyInvocable<void()> on_closed) {
  AssertOnLoop();
  if (state_ == State::kClosed) {
    on_closed();
    return;
  }
  close_callbacks_.push_back(std::move(on_closed));
  Close();
}

void Conn::SetTick(absl::Duration interval) {
  AssertOnLoop();
  ++tick_generation_;
  tick_interval_ = interval;
  if (interval <= absl::ZeroDuration()) return;
  loop_->ScheduleTick(*this);
}

io::SocketAddress Conn::local_address() const {
  absl::StatusOr<io::SocketAddress> a = io::LocalAddress(fd());
  return a.ok() ? *a : io::SocketAddress();
}

absl::Status Conn::SetNoDelay(bool on) { return io::SetNoDelay(fd(), on); }
absl::Status Conn::SetKeepAlive(bool on, absl::Duration idle) {
  return io::SetKeepAlive(fd(), on,
                          static_cast<int>(absl::ToInt64Seconds(idle)));
}
absl::Status Conn::SetSendBufferSize(int bytes) {
  return io::SetSendBufferSize(fd(), bytes);
}
absl::Status Conn::SetRecvBufferSize(int bytes) {
  return io::SetRecvBufferSize(fd(), bytes);
}

void Conn::Settle() {
  if (consumed_ != 0) {
    in_.Discard(consumed_);
    consumed_ = 0;
  }
  // A datagram's unread bytes are dropped; a stream's are kept.
  if (view_len_ != 0 && state_ == State::kOpen && !datagram_) {
    in_.Append(view_, view_len_);
  }
  view_ = nullptr;
  view_len_ = 0;
}

void Conn::Receive(Envelope& message) {
  if (auto* w = message.As<internal::AsyncWriteMsg>()) {
    WriteCallback done = std::move(w->done);
    w->done = nullptr;
    std::string data = std::move(w->data);
    if (state_ != State::kOpen) {
      if (done) done(absl::FailedPreconditionError("AsyncWrite: the connection is closing"));
      return;
    }
    loop_->RunHandler(*this, [&] {
      Write(data);
      if (done) write_callbacks_.emplace_back(bytes_queued_, std::move(done));
      return Action::kNone;
    });
    return;
  }
  if (message.Is<internal::WakeMsg>()) {
    loop_->RunHandler(*this, [this] { return handler_->OnData(*this); });
    return;
  }
  if (message.Is<internal::CloseMsg>()) {
    Close();
    return;
  }
  loop_->RunHandler(*this,
                    [this, &message] { return handler_->OnMessage(*this, message); });
}

}  // namespace actnet
