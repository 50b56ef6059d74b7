#include "actors/datagram_conn.h"

#include <errno.h>

#include <algorithm>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "io/socket.h"

namespace actnet::internal {

DatagramConn::DatagramConn(ConnContext* context,
                           std::unique_ptr<Handler> handler,
                           const io::SocketAddress& remote, bool listener_view)
    : ConnCore(context, std::move(handler), remote),
      listener_view_(listener_view) {}

bool DatagramConn::OpenView(int fd) {
  fd_ = fd;
  absl::StatusOr<io::Handle> h =
      ctx_->backend->AddDatagram(fd, /*owned=*/false, this, ctx_->owner);
  if (!h.ok()) {
    ABSL_RAW_LOG(WARNING, "registering udp fd %d: %s", fd,
                 h.status().ToString().c_str());
    state_ = State::kConnecting;  // closes without OnClose
    CloseNow(CloseReason{CloseReason::Kind::kError, EBADF});
    return false;
  }
  handle_ = *h;
  return true;
}

void DatagramConn::Dial(const io::SocketAddress& remote, std::string target,
                        DialCallback done) {
  state_ = State::kConnecting;
  set_dial_target(std::move(target));
  absl::StatusOr<io::UniqueFd> fd = io::ConnectDatagram(remote);
  if (!fd.ok()) {
    CloseNow(CloseReason{CloseReason::Kind::kConnectFailed, 0});
    done(fd.status());
    return;
  }
  Register(std::move(*fd), std::move(done));
}

void DatagramConn::Enroll(io::UniqueFd fd, DialCallback done) {
  state_ = State::kConnecting;
  Register(std::move(fd), std::move(done));
}

void DatagramConn::Register(io::UniqueFd fd, DialCallback done) {
  fd_ = fd.Get();
  absl::StatusOr<io::Handle> h =
      ctx_->backend->AddDatagram(fd_, /*owned=*/true, this, ctx_->owner);
  if (!h.ok()) {
    const absl::Status error = DialError(h.status());
    CloseNow(CloseReason{CloseReason::Kind::kError, EBADF});
    done(error);
    return;  // `fd` closes the socket
  }
  fd.Release();  // the backend owns it now
  handle_ = *h;
  StartIdleTimer();
  set_dial_done(std::move(done));
  OpenDialled();
}

void DatagramConn::OnDatagram(absl::string_view data,
                              const io::SocketAddress& from) {
  if (state_ != State::kOpen || user_paused_) return;
  if (listener_view_) remote_ = from;
  last_active_ns_ = ctx_->clock_ns;
  Lend(data);
  RunHandler([this] { return handler_->OnData(*this); });
}

void DatagramConn::OnDatagramTooLarge(size_t size,
                                      const io::SocketAddress& from) {
  // Never hand out a cut datagram: count it and say so.
  ctx_->truncated_datagrams.Add();
  ABSL_RAW_LOG(WARNING, "dropped a %zu-byte datagram from %s (buffer %zu)",
               size, from.ToString().c_str(),
               std::max<size_t>(ctx_->options->read_buffer_size, 64 * 1024));
}

void DatagramConn::OnDatagramError(int err) {
  // A connected socket reports its peer's ICMP errors (ECONNREFUSED); a
  // listener's view just goes on.
  if (!listener_view_) CloseNow(CloseReason{CloseReason::Kind::kError, err});
}

void DatagramConn::Write(absl::string_view data) {
  AssertOnLoop();
  if (state_ != State::kOpen) return;
  bytes_queued_ += data.size();
  const ssize_t n = ctx_->backend->SendDatagram(
      handle_, data, listener_view_ ? &remote_ : nullptr);
  if (n >= 0) {
    bytes_sent_ += data.size();
    return;
  }
  // UDP is lossy by contract: a full socket buffer drops the datagram, as
  // the network would. Count it; a connected socket also learns of errors.
  ctx_->dropped_datagrams.Add();
  if (!listener_view_ && n != -EAGAIN && n != -ENOBUFS) {
    CloseNow(CloseReason{CloseReason::Kind::kError, static_cast<int>(-n)});
  }
}

void DatagramConn::PauseReading() {
  AssertOnLoop();
  user_paused_ = true;
  if (state_ == State::kOpen)
    ctx_->backend->SetReading(handle_, io::Reading::kPaused);
}

void DatagramConn::ResumeReading() {
  AssertOnLoop();
  if (!user_paused_) return;
  user_paused_ = false;
  if (state_ == State::kOpen)
    ctx_->backend->SetReading(handle_, io::Reading::kOn);
}

void DatagramConn::RunHandler(absl::FunctionRef<Action()> fn) {
  if (state_ == State::kClosed) return;
  in_handler_ = true;
  const Action action = fn();
  in_handler_ = false;
  Settle(/*keep_unread=*/false);
  CompleteWrites();
  if (state_ == State::kClosing) CloseNow(pending_reason_);
  ApplyAction(action);
}

void DatagramConn::CloseGracefully(CloseReason reason) {
  if (state_ != State::kOpen) return;
  // A listener's view is the listener itself on this loop: only the
  // engine's stop closes it.
  if (listener_view_ && !ctx_->stopping) return;
  state_ = State::kClosing;  // nothing to flush or linger for
  pending_reason_ = reason;
  if (!in_handler_) CloseNow(reason);  // else once the handler returns
}

void DatagramConn::Abort() {
  AssertOnLoop();
  if (listener_view_ && !ctx_->stopping) return;
  CloseNow(CloseReason{CloseReason::Kind::kLocal, 0});
}

void DatagramConn::CloseNow(CloseReason reason) {
  if (state_ == State::kClosed) return;
  const bool was_open = state_ != State::kConnecting;
  DialCallback dial_done = was_open ? nullptr : TakeDial();
  state_ = State::kClosed;
  if (was_open && !listener_view_) handler_->OnClose(*this, reason);
  FailWrites(reason);
  if (handle_ != io::kNoHandle)
    ctx_->backend->Close(handle_, listener_view_ ? io::CloseMode::kRelease
                                                 : io::CloseMode::kClose);
  handle_ = io::kNoHandle;
  Settle(false);
  ctx_->Release(*this, counted(), reason);
  RunCloseCallbacks();
  if (dial_done) {
    dial_done(absl::CancelledError(
        absl::StrCat("dial ", dial_target(), ": ", reason.ToString())));
  }
}

}  // namespace actnet::internal
