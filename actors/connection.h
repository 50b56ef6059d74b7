// Conn: one connection as its Handler sees it: a child actor of the loop
// that owns it. A stream connection (TCP, unix) owns its socket, buffers
// and state; a datagram connection (UDP) is one datagram at a time. The
// loop turns I/O into messages for it (Data, Tick, Close, and what other
// actors Tell it).
// Thread contract: every method is loop thread only (debug-asserted); from
// other threads use the Engine calls (AsyncWrite, Wake, Close, Tell) with
// its ActorRef. Views from Peek/Next are valid until the handler returns or
// the next call that consumes inbound bytes, whichever is first.
#ifndef ACTNET_ACTORS_CONNECTION_H_
#define ACTNET_ACTORS_CONNECTION_H_

#include <any>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "actors/actor.h"
#include "actors/handler.h"
#include "io/address.h"
#include "io/buffer.h"

namespace actnet {

class EventLoop;
namespace internal {
class ConnContext;
}  // namespace internal

// Called on the loop once the bytes of an AsyncWrite have been handed to the
// kernel (OK) or could not be, because the connection closed first.
using WriteCallback = absl::AnyInvocable<void(absl::Status)>;

// Receives the outcome of Engine::Dial / Engine::Enroll, on the loop that
// owns the new connection: its ref once open (after OnOpen), or why it
// failed.
using DialCallback = absl::AnyInvocable<void(absl::StatusOr<ActorRef>)>;

class Conn : public Actor {
 public:
  static constexpr size_t kAll = static_cast<size_t>(-1);

  ~Conn() override;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // ---- Inbound bytes ----
  // Up to n buffered bytes (all by default) as one contiguous view.
  absl::string_view Peek(size_t n = kAll);
  // Like Peek, and consumes them.
  absl::string_view Next(size_t n = kAll);
  // Consumes up to n bytes; returns how many.
  size_t Discard(size_t n = kAll);
  // Copies up to n bytes into dst and consumes them; returns how many.
  size_t Read(void* dst, size_t n);
  size_t InboundBytes() const;

  // ---- Outbound bytes ----
  // Queues bytes (copying them unless they are a view of this event's
  // inbound data). Writes made inside a handler go out in one write/writev
  // when the handler returns; elsewhere at the end of the loop iteration.
  // Ignored once the connection is closing. For UDP, each Write sends one
  // datagram at once.
  virtual void Write(absl::string_view data) = 0;
  void Writev(absl::Span<const absl::string_view> parts);
  // Writes what is queued now rather than when the handler returns.
  virtual void Flush() = 0;
  virtual size_t OutboundBytes() const = 0;

  // ---- Lifecycle ----
  // Closes after queued output is flushed (bounded by close_linger).
  void Close();
  // As Close(), and runs `on_closed` on this loop once it is closed.
  void Close(absl::AnyInvocable<void()> on_closed);
  // Closes at once, dropping queued output, with a reset (RST) for TCP:
  // for peers that must not be waited on. OnClose runs before it returns.
  virtual void Abort() = 0;
  bool closing() const { return state_ != State::kOpen; }
  // Half-close: once queued output is flushed, sends FIN (shutdown(SHUT_WR))
  // and keeps reading; later writes are ignored. The connection closes
  // when the peer's FIN arrives too (OnPeerClosed's default), or at once
  // (after flushing) if it already has. A proxy relays a FIN this way.
  // TCP and unix stream sockets only (a no-op for UDP).
  virtual void ShutdownWrite() = 0;
  virtual bool write_shut_down() const = 0;

  // Stops reading from the socket (inbound bytes stay in the kernel, so the
  // peer is slowed by TCP flow control) until ResumeReading. Independent of
  // the engine's own back-pressure pause.
  virtual void PauseReading() = 0;
  virtual void ResumeReading() = 0;
  bool reading_paused() const { return user_paused_; }
  // The peer sent its FIN (see Handler::OnPeerClosed); nothing more will be
  // read.
  virtual bool peer_closed() const = 0;

  // True for UDP: each OnData is one datagram and each Write sends one
  // datagram (to remote_address(), the sender of the datagram being handled
  // on a listener's view).
  virtual bool is_datagram() const = 0;

  // ---- TLS (tls:// connections) ----
  // Whether this connection speaks TLS; the protocol ALPN chose ("" if
  // none, or not TLS); whether its handshake resumed an earlier session.
  virtual bool is_tls() const { return false; }
  virtual std::string alpn() const { return std::string(); }
  virtual bool tls_resumed() const { return false; }

  // Calls OnTick every `interval` (zero stops it).
  void SetTick(absl::Duration interval);

  // ---- Identity and options ----
  ActorRef ref() const { return self(); }
  int fd() const { return fd_; }
  EventLoop& loop() const;
  Handler& handler() const { return *handler_; }
  const io::SocketAddress& remote_address() const { return remote_; }
  io::SocketAddress local_address() const;
  // Tell, Ask, Watch and Unwatch with this connection as the sender are
  // Actor's (actor.h). Counts a message the handler does not handle.
  void Unhandled(const Envelope& message) const;

  // Free-form per-connection state for handlers that prefer it to members.
  std::any& context() { return context_; }

  absl::Status SetNoDelay(bool on);
  absl::Status SetKeepAlive(bool on, absl::Duration idle);
  absl::Status SetSendBufferSize(int bytes);
  absl::Status SetRecvBufferSize(int bytes);

 protected:
  // kClosing: flushing output before it closes; kLingering: output sent and
  // FIN out, reading until the peer's FIN.
  enum class State : uint8_t {
    kConnecting,
    kOpen,
    kClosing,
    kLingering,
    kClosed
  };

  Conn(internal::ConnContext* context, std::unique_ptr<Handler> handler,
       const io::SocketAddress& remote);

  // Runs one handler callback, then what follows one (inbound bytes
  // settled, what it wrote flushed), then the action it returned.
  virtual void RunHandler(absl::FunctionRef<Action()> fn) = 0;
  void ApplyAction(Action action);
  // Lends `data` (read from the socket, valid until the handler returns)
  // as the inbound bytes; the handler consumes it without a copy.
  void Lend(absl::string_view data) {
    view_ = data.data();
    view_len_ = data.size();
  }
  // After a handler: releases consumed ring bytes; lent bytes still unread
  // are copied into the inbound ring if `keep_unread`, else dropped.
  void Settle(bool keep_unread);

  virtual void CloseGracefully(CloseReason reason) = 0;
  virtual void CloseNow(CloseReason reason) = 0;
  // Fires AsyncWrite callbacks whose bytes have all been sent.
  void CompleteWrites();
  // At close: callbacks of unsent writes fail; close callbacks run.
  void FailWrites(const CloseReason& reason);
  void RunCloseCallbacks();
  // Idle timeout (EngineOptions::idle_timeout): checks at `deadline_ns`.
  void ScheduleIdleCheck(int64_t deadline_ns);
  void AssertOnLoop() const;

  internal::ConnContext* const ctx_;
  std::unique_ptr<Handler> handler_;
  io::ByteRing in_;
  // This event's bytes, lent by the backend (zero-copy path).
  const char* view_ = nullptr;
  size_t view_len_ = 0;
  size_t consumed_ = 0;  // ring bytes consumed by the running handler
  io::SocketAddress remote_;
  std::any context_;
  int fd_ = -1;
  State state_ = State::kOpen;
  bool user_paused_ = false;    // PauseReading
  int64_t last_active_ns_ = 0;  // last byte read or written (idle timeout)
  uint32_t tick_generation_ = 0;
  absl::Duration tick_interval_ = absl::ZeroDuration();
  // Bytes accepted for writing and bytes handed to the kernel, for
  // AsyncWrite completions: (mark, callback) pairs, mark ascending.
  uint64_t bytes_queued_ = 0;
  uint64_t bytes_sent_ = 0;
  std::vector<std::pair<uint64_t, WriteCallback>> write_callbacks_;
  std::vector<absl::AnyInvocable<void()>> close_callbacks_;

 private:
  void Receive(Envelope& message) override;
  void Advance(size_t k);
  void ScheduleTick();
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_CONNECTION_H_
