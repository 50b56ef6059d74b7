#include "actors/connection.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/check.h"
#include "actors/conn_context.h"
#include "actors/conn_messages.h"
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

Conn::Conn(internal::ConnContext* context, std::unique_ptr<Handler> handler,
           const io::SocketAddress& remote)
    : Actor(ConnectionTag{}),
      ctx_(context),
      handler_(std::move(handler)),
      remote_(remote),
      last_active_ns_(context->clock_ns) {}

Conn::~Conn() = default;

EventLoop& Conn::loop() const { return *ctx_->loop; }

void Conn::AssertOnLoop() const {
  ACTNET_DCHECK_MSG(
      ctx_->OnLoopThread(),
      "Conn used off its loop thread; use Engine::AsyncWrite/Tell");
}

// ---------------------------------------------------------------------------
// Inbound bytes: this event's lent view first, else the ring.

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

void Conn::Settle(bool keep_unread) {
  if (consumed_ != 0) {
    in_.Discard(consumed_);
    consumed_ = 0;
  }
  if (view_len_ != 0 && keep_unread) in_.Append(view_, view_len_);
  view_ = nullptr;
  view_len_ = 0;
}

// ---------------------------------------------------------------------------
// Lifecycle shared by every kind of connection.

void Conn::Writev(absl::Span<const absl::string_view> parts) {
  for (absl::string_view p : parts) Write(p);
}

void Conn::Close() {
  AssertOnLoop();
  CloseGracefully(CloseReason{CloseReason::Kind::kLocal, 0});
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

void Conn::ApplyAction(Action action) {
  switch (action) {
    case Action::kNone:
      break;
    case Action::kClose:
      CloseGracefully(CloseReason{CloseReason::Kind::kLocal, 0});
      break;
    case Action::kShutdown:
      ctx_->RequestStop();
      break;
  }
}

void Conn::SetTick(absl::Duration interval) {
  AssertOnLoop();
  ++tick_generation_;
  tick_interval_ = interval;
  if (interval > absl::ZeroDuration()) ScheduleTick();
}

void Conn::ScheduleTick() {
  // The timer outlives nothing: it finds the connection by its ref, and a
  // newer SetTick (a new generation) retires it.
  ctx_->RunAfter(
      tick_interval_, [ctx = ctx_, ref = ref(), generation = tick_generation_] {
        auto* c = static_cast<Conn*>(ctx->Find(ref));
        if (c == nullptr || c->tick_generation_ != generation ||
            c->state_ != State::kOpen) {
          return;
        }
        c->RunHandler([c] { return c->handler_->OnTick(*c); });
        if (c->state_ == State::kOpen && c->tick_generation_ == generation) {
          c->ScheduleTick();
        }
      });
}

void Conn::ScheduleIdleCheck(int64_t deadline_ns) {
  ctx_->RunAfter(absl::Nanoseconds(deadline_ns - ctx_->clock_ns),
                 [ctx = ctx_, ref = ref()] {
                   auto* c = static_cast<Conn*>(ctx->Find(ref));
                   if (c == nullptr || c->state_ == State::kClosed) return;
                   const int64_t deadline =
                       c->last_active_ns_ +
                       absl::ToInt64Nanoseconds(ctx->options->idle_timeout);
                   const CloseReason idle{CloseReason::Kind::kIdle, 0};
                   if (ctx->clock_ns < deadline) {
                     c->ScheduleIdleCheck(deadline);
                   } else if (c->state_ == State::kConnecting) {
                     return;  // the dial timeout owns connecting sockets
                   } else if (c->state_ == State::kOpen) {
                     c->CloseGracefully(idle);
                   } else {
                     c->CloseNow(idle);
                   }
                 });
}

void Conn::CompleteWrites() {
  size_t fired = 0;
  while (fired < write_callbacks_.size() &&
         write_callbacks_[fired].first <= bytes_sent_) {
    write_callbacks_[fired].second(absl::OkStatus());
    ++fired;
  }
  if (fired != 0) {
    write_callbacks_.erase(
        write_callbacks_.begin(),
        write_callbacks_.begin() + static_cast<ptrdiff_t>(fired));
  }
}

void Conn::FailWrites(const CloseReason& reason) {
  std::vector<std::pair<uint64_t, WriteCallback>> callbacks;
  callbacks.swap(write_callbacks_);
  const absl::Status closed = absl::FailedPreconditionError(
      "connection closed before the write was sent: " + reason.ToString());
  for (auto& [mark, cb] : callbacks)
    cb(mark <= bytes_sent_ ? absl::OkStatus() : closed);
}

void Conn::RunCloseCallbacks() {
  std::vector<absl::AnyInvocable<void()>> callbacks;
  callbacks.swap(close_callbacks_);
  for (auto& cb : callbacks) cb();
}

Action Handler::OnMessage(Conn& conn, Envelope& message) {
  conn.Unhandled(message);
  return Action::kNone;
}

void Conn::Unhandled(const Envelope& message) const {
  ctx_->CountUnhandled(message, ref());
}

namespace internal {
void CountUnhandledConn(const Envelope& message, Conn& conn) {
  conn.Unhandled(message);
}
}  // namespace internal

// The engine's own messages (conn_messages.h), then the user's.
void Conn::Receive(Envelope& message) {
  if (auto* w = message.As<internal::AsyncWriteMsg>()) {
    WriteCallback done = std::move(w->done);
    w->done = nullptr;
    std::string data = std::move(w->data);
    if (state_ != State::kOpen) {
      if (done)
        done(absl::FailedPreconditionError(
            "AsyncWrite: the connection is closing"));
      return;
    }
    RunHandler([&] {
      Write(data);
      if (done) write_callbacks_.emplace_back(bytes_queued_, std::move(done));
      return Action::kNone;
    });
    return;
  }
  if (message.Is<internal::WakeMsg>()) {
    RunHandler([this] { return handler_->OnData(*this); });
    return;
  }
  if (auto* c = message.As<internal::CloseMsg>()) {
    if (c->done) {
      Close([done = std::exchange(c->done, nullptr)]() mutable {
        done(absl::OkStatus());
      });
    } else {
      Close();
    }
    return;
  }
  RunHandler([this, &message] { return handler_->OnMessage(*this, message); });
}

// ---------------------------------------------------------------------------
// Identity and socket options.

io::SocketAddress Conn::local_address() const {
  absl::StatusOr<io::SocketAddress> a = io::LocalAddress(fd_);
  return a.ok() ? *a : io::SocketAddress();
}

absl::Status Conn::SetNoDelay(bool on) { return io::SetNoDelay(fd_, on); }
absl::Status Conn::SetKeepAlive(bool on, absl::Duration idle) {
  return io::SetKeepAlive(fd_, on,
                          static_cast<int>(absl::ToInt64Seconds(idle)));
}
absl::Status Conn::SetSendBufferSize(int bytes) {
  return io::SetSendBufferSize(fd_, bytes);
}
absl::Status Conn::SetRecvBufferSize(int bytes) {
  return io::SetRecvBufferSize(fd_, bytes);
}

}  // namespace actnet
