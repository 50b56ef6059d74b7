// StreamConn: set-up, the read side and closing. The write side is in
// stream_conn_write.cc.
#include "actors/stream_conn.h"

#include <errno.h>

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "actors/check.h"
#include "io/socket.h"

namespace actnet::internal {

StreamConn::StreamConn(ConnContext* context, std::unique_ptr<Handler> handler,
                       const io::SocketAddress& remote)
    : ConnCore(context, std::move(handler), remote) {}

StreamConn::~StreamConn() = default;

// ---------------------------------------------------------------------------
// Set-up.

bool StreamConn::Register(io::UniqueFd fd) {
  fd_ = fd.Get();
  absl::StatusOr<io::Handle> h =
      ctx_->backend->AddStream(std::move(fd), sink(), ctx_->owner);
  if (!h.ok()) {
    ABSL_RAW_LOG(WARNING, "registering fd %d: %s", fd_,
                 h.status().ToString().c_str());
    state_ = State::kConnecting;  // closes without OnClose
    CloseNow(CloseReason{CloseReason::Kind::kError, EBADF});
    return false;
  }
  handle_ = *h;
  if (tls_) tls_->Attach(ctx_->backend, handle_);
  StartIdleTimer();
  return true;
}

bool StreamConn::StartTls(std::shared_ptr<tls::TlsContext> context,
                          std::string destination) {
  state_ = State::kConnecting;
  absl::StatusOr<std::unique_ptr<tls::TlsSession>> session =
      tls::TlsSession::Create(std::move(context), this, this,
                              std::move(destination));
  if (!session.ok()) {
    ABSL_RAW_LOG(WARNING, "tls session: %s",
                 session.status().ToString().c_str());
    return false;
  }
  tls_ = std::move(*session);
  return true;
}

void StreamConn::ArmHandshakeTimeout() {
  const absl::Duration timeout = tls_->handshake_timeout();
  ctx_->RunAfter(timeout, [ctx = ctx_, me = ref(), timeout] {
    auto* c = static_cast<StreamConn*>(ctx->Find(me));
    if (c == nullptr || c->state_ != State::kConnecting || c->tls_ == nullptr)
      return;
    c->OnTlsFailed(absl::DeadlineExceededError(absl::StrCat(
        "tls: no handshake after ", absl::FormatDuration(timeout))));
  });
}

void StreamConn::Accept(io::UniqueFd fd, Admission admission,
                        std::shared_ptr<tls::TlsContext> tls) {
  admission_ = std::move(admission);
  if (tls != nullptr && !StartTls(std::move(tls), "")) {
    CloseNow(CloseReason{CloseReason::Kind::kError, EPROTO});
    return;  // the fd closes with its UniqueFd
  }
  if (!Register(std::move(fd))) return;
  if (tls_) {
    ArmHandshakeTimeout();  // the client speaks first
    return;
  }
  RunHandler([this] { return handler_->OnOpen(*this); });
}

void StreamConn::OnTlsOpen() {
  if (state_ != State::kConnecting) return;
  if (dialled_) {
    OpenDialled();
    return;
  }
  state_ = State::kOpen;
  RunHandler([this] { return handler_->OnOpen(*this); });
}

void StreamConn::OnTlsFailed(const absl::Status& why) {
  if (state_ == State::kClosed) return;
  if (state_ != State::kConnecting) {
    CloseNow(CloseReason{CloseReason::Kind::kError, EPROTO});
    return;
  }
  DialCallback cb = TakeDial();
  const std::string target(dial_target());
  CloseNow(CloseReason{dialled_ ? CloseReason::Kind::kConnectFailed
                                : CloseReason::Kind::kError,
                       EPROTO});
  if (cb) {
    cb(absl::Status(why.code(), absl::StrCat(enrolled_ ? "enroll " : "dial ",
                                             target, ": ", why.message())));
  }
}

void StreamConn::Enroll(io::UniqueFd fd, DialCallback done,
                        std::shared_ptr<tls::TlsContext> tls) {
  state_ = State::kConnecting;
  dialled_ = true;
  enrolled_ = true;
  set_dial_target(remote_address().ToString());
  const bool client = tls != nullptr && tls->role() == tls::Role::kClient;
  // A client verifies the peer by options().server_name, else by address.
  if (tls != nullptr &&
      !StartTls(std::move(tls), client ? remote_address().ToString() : "")) {
    CloseNow(CloseReason{CloseReason::Kind::kConnectFailed, EPROTO});
    done(absl::InternalError("enroll: tls: no session"));
    return;
  }
  if (!Register(std::move(fd))) {
    done(absl::InvalidArgumentError("enroll: the backend refused the fd"));
    return;
  }
  set_dial_done(std::move(done));
  if (!tls_) {
    OpenDialled();
    return;
  }
  ArmHandshakeTimeout();
  if (client) tls_->OnConnected(0);  // connected already: ClientHello now
}

void StreamConn::Dial(const io::SocketAddress& remote, std::string target,
                      bool tcp, absl::Duration timeout, DialCallback done,
                      std::shared_ptr<tls::TlsContext> tls,
                      std::string destination) {
  state_ = State::kConnecting;
  dialled_ = true;
  set_dial_target(std::move(target));
  if (tls != nullptr && !StartTls(std::move(tls), std::move(destination))) {
    CloseNow(CloseReason{CloseReason::Kind::kConnectFailed, EPROTO});
    done(absl::InternalError(
        absl::StrCat("dial ", dial_target(), ": tls: no session")));
    return;
  }
  int fd = -1;
  absl::StatusOr<io::Handle> h =
      ctx_->backend->Connect(remote, sink(), ctx_->owner, &fd);
  if (!h.ok()) {
    const absl::Status error = DialError(h.status());
    CloseNow(CloseReason{CloseReason::Kind::kConnectFailed, 0});
    done(error);
    return;
  }
  handle_ = *h;
  fd_ = fd;
  if (tls_) {
    tls_->Attach(ctx_->backend, handle_);
    ArmHandshakeTimeout();
  }
  set_dial_done(std::move(done));
  if (tcp && ctx_->options->tcp_nodelay) (void)io::SetNoDelay(fd_, true);
  StartIdleTimer();
  ctx_->RunAfter(timeout, [ctx = ctx_, me = ref(), timeout] {
    auto* c = static_cast<StreamConn*>(ctx->Find(me));
    if (c == nullptr || c->state_ != State::kConnecting) return;
    DialCallback cb = c->TakeDial();
    const std::string target(c->dial_target());
    c->CloseNow(CloseReason{CloseReason::Kind::kConnectFailed, ETIMEDOUT});
    cb(absl::DeadlineExceededError(
        absl::StrCat("dial ", target, ": no connection after ",
                     absl::FormatDuration(timeout))));
  });
}

void StreamConn::OnConnected(int err) {
  if (state_ != State::kConnecting) return;
  if (err != 0) {
    DialCallback cb = TakeDial();
    const std::string target(dial_target());
    CloseNow(CloseReason{CloseReason::Kind::kConnectFailed, err});
    if (cb) cb(io::ErrnoStatus(err, absl::StrCat("dial ", target)));
    return;
  }
  OpenDialled();
}

// ---------------------------------------------------------------------------
// The read side.

void StreamConn::OnRead(absl::string_view data) {
  if (state_ != State::kOpen || read_ == ReadSide::kEof)
    return;  // lingering: drop
  last_active_ns_ = ctx_->clock_ns;
  if (user_paused_ || back_pressure_) {
    in_.Append(data);
    held_data_ = true;
    return;
  }
  lent_ = data;
  if (in_.empty()) {
    Lend(data);
  } else {
    in_.Append(data);
  }
  RunHandler([this] { return handler_->OnData(*this); });
  lent_ = absl::string_view();
  if (in_.size() > ctx_->options->max_inbound_buffer) {
    CloseGracefully(CloseReason{CloseReason::Kind::kInboundLimit, 0});
  }
}

void StreamConn::OnReadEof() {
  if (state_ == State::kLingering) {
    CloseNow(pending_reason_);  // the peer finished too: done
    return;
  }
  if (state_ == State::kOpen && read_ == ReadSide::kOpen) HandlePeerClosed();
}

// The peer's FIN: asks the handler (OnPeerClosed) whether to close.
void StreamConn::HandlePeerClosed() {
  read_ = ReadSide::kEof;
  bool close = false;
  RunHandler([this, &close] {
    const Action action = handler_->OnPeerClosed(*this);
    close = action == Action::kClose;
    return close ? Action::kNone : action;
  });
  if (close) {
    CloseGracefully(CloseReason{CloseReason::Kind::kPeerClosed, 0});
  } else {
    AfterOutput();  // stops reading
  }
}

void StreamConn::OnHangup(int err) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kLingering) {
    CloseNow(pending_reason_);  // our output went out before this
  } else if (err != 0) {
    CloseNow(CloseReason{CloseReason::Kind::kError, err});
  } else {
    CloseNow(state_ == State::kClosing
                 ? pending_reason_
                 : CloseReason{CloseReason::Kind::kPeerClosed, 0});
  }
}

void StreamConn::PauseReading() {
  AssertOnLoop();
  user_paused_ = true;
  AfterOutput();
}

void StreamConn::ResumeReading() {
  AssertOnLoop();
  if (!user_paused_) return;
  user_paused_ = false;
  AfterOutput();
}

void StreamConn::DeliverHeld() {
  held_data_ = false;
  ctx_->RunAfter(absl::ZeroDuration(), [ctx = ctx_, me = ref()] {
    auto* c = static_cast<StreamConn*>(ctx->Find(me));
    if (c == nullptr || c->state_ != State::kOpen || c->user_paused_ ||
        c->back_pressure_ || c->in_.empty()) {
      return;
    }
    c->RunHandler([c] { return c->handler_->OnData(*c); });
  });
}

void StreamConn::RunHandler(absl::FunctionRef<Action()> fn) {
  if (state_ == State::kClosed) return;
  WriteGather& gather = ctx_->gather;
  StreamConn* outer = gather.owner;
  if (outer != nullptr && outer != this) outer->FlushGather();
  gather.owner = this;
  const Action action = fn();
  Settle(/*keep_unread=*/state_ == State::kOpen);
  // Restore first: writes made by completion callbacks run from the flush
  // go to the connection's queue, not to a gather nobody will flush.
  gather.owner = outer;
  FlushGather();
  if (state_ == State::kClosing) ArmLinger();
  ApplyAction(action);
}

// ---------------------------------------------------------------------------
// Closing.

void StreamConn::CloseGracefully(CloseReason reason) {
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  pending_reason_ = reason;
  if (gathering()) return;  // RunHandler flushes, then finishes
  if (Queued() == 0) {
    FinishClose();
    return;
  }
  AfterOutput();  // stops reading, keeps writing
  ArmLinger();
}

// Output is flushed. A close the peer has not asked for lingers: close()
// with unread input would make the kernel reset the connection and drop
// what the peer has not yet received, so send FIN after the data instead,
// then read and discard until the peer's FIN (bounded by close_linger, or
// the stop deadline).
void StreamConn::FinishClose() {
  const CloseReason::Kind kind = pending_reason_.kind;
  const bool linger =
      read_ != ReadSide::kEof && (kind == CloseReason::Kind::kLocal ||
                                  kind == CloseReason::Kind::kEngineStopped);
  if (!linger || ShutdownBytes() != 0) {
    CloseNow(pending_reason_);
    return;
  }
  state_ = State::kLingering;
  back_pressure_ = false;
  UpdateReading();
  ArmLinger();
}

void StreamConn::ArmLinger() {
  if ((state_ != State::kClosing && state_ != State::kLingering) ||
      linger_armed_)
    return;
  // While stopping, stop_timeout bounds every close instead.
  if (ctx_->stopping) return;
  linger_armed_ = true;
  ctx_->RunAfter(ctx_->options->close_linger, [ctx = ctx_, me = ref()] {
    auto* c = static_cast<StreamConn*>(ctx->Find(me));
    if (c == nullptr) return;
    // All output sent and FIN out: the peer was just slow to finish.
    // Otherwise output is abandoned, which Finish turns into a reset.
    c->CloseNow(c->state_ == State::kLingering
                    ? c->pending_reason_
                    : CloseReason{CloseReason::Kind::kTimeout, 0});
  });
}

void StreamConn::Abort() {
  AssertOnLoop();
  if (state_ == State::kClosed) return;
  if (gathering()) ctx_->gather.Clear();
  Finish(CloseReason{CloseReason::Kind::kLocal, 0}, /*reset=*/true);
}

void StreamConn::Finish(CloseReason reason, bool reset) {
  if (state_ == State::kClosed) return;
  const bool was_open = state_ != State::kConnecting;
  // A dial that dies before opening still reports, exactly once.
  DialCallback dial_done = was_open ? nullptr : TakeDial();
  state_ = State::kClosed;
  if (was_open) handler_->OnClose(*this, reason);
  FailWrites(reason);
  // Output being abandoned: reset rather than FIN, so the peer sees an
  // error instead of a clean end after a truncated reply.
  if (handle_ != io::kNoHandle) {
    const io::CloseMode mode = reset || Queued() != 0 ? io::CloseMode::kReset
                                                      : io::CloseMode::kClose;
    if (tls_) {
      tls_->Close(mode);  // kClose: close_notify first
    } else {
      ctx_->backend->Close(handle_, mode);
    }
  }
  handle_ = io::kNoHandle;
  in_.Clear();
  out_.Clear();
  Settle(false);
  ctx_->Release(*this, /*counted=*/true, reason);
  RunCloseCallbacks();
  if (dial_done) {
    dial_done(absl::CancelledError(
        absl::StrCat("dial ", dial_target(), ": ", reason.ToString())));
  }
}

}  // namespace actnet::internal
