// Conn: one connection, a child actor of the event loop that owns it. It
// owns the socket, its inbound and outbound byte rings and the user's
// Handler, and receives Data/Tick/Close/user messages from its loop.
//
// Thread contract: every method here is loop thread only (the connection's
// own loop) and asserts it in debug builds. From other threads, address a
// connection by its ActorRef through the thread-safe Engine calls
// (AsyncWrite, Wake, Close, Tell): a Conn& never crosses threads.
//
// Views returned by Peek/Next are valid until the handler returns or the
// next call that consumes inbound bytes, whichever is first.
#ifndef ACTNET_ACTORS_CONNECTION_H_
#define ACTNET_ACTORS_CONNECTION_H_

#include <any>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "actors/actor.h"
#include "actors/admission.h"
#include "actors/handler.h"
#include "io/address.h"
#include "io/buffer.h"
#include "io/unique_fd.h"

namespace actnet {

class EventLoop;

// Called on the loop once the bytes of an AsyncWrite have been handed to the
// kernel (OK) or could not be, because the connection closed first.
using WriteCallback = absl::AnyInvocable<void(absl::Status)>;

// Receives the outcome of Engine::Dial / Engine::Enroll, on the loop that
// owns the new connection: its ref once open (after OnOpen), or why it
// failed.
using DialCallback = absl::AnyInvocable<void(absl::StatusOr<ActorRef>)>;

class Conn final : public Actor {
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
  // Ignored once the connection is closing.
  void Write(absl::string_view data);
  void Writev(absl::Span<const absl::string_view> parts);
  // Writes what is queued now rather than when the handler returns.
  void Flush();
  size_t OutboundBytes() const;

  // ---- Lifecycle ----
  // Closes after queued output is flushed (bounded by close_linger).
  void Close();
  // As Close(), and runs `on_closed` on this loop once it is closed.
  void Close(absl::AnyInvocable<void()> on_closed);
  // Closes at once, dropping queued output, with a reset (RST) for TCP:
  // for peers that must not be waited on. OnClose runs before it returns.
  void Abort();
  bool closing() const { return state_ != State::kOpen; }
  // Half-close: once queued output is flushed, sends FIN (shutdown(SHUT_WR))
  // and keeps reading; later writes are ignored. The connection closes
  // when the peer's FIN arrives too (OnPeerClosed's default), or at once
  // (after flushing) if it already has. A proxy relays a FIN this way.
  // TCP and unix stream sockets only (a no-op for UDP).
  void ShutdownWrite();
  bool write_shut_down() const { return shutdown_write_; }

  // Stops reading from the socket (inbound bytes stay in the kernel, so the
  // peer is slowed by TCP flow control) until ResumeReading. Independent of
  // the engine's own back-pressure pause.
  void PauseReading();
  void ResumeReading();
  bool reading_paused() const { return user_paused_; }
  // The peer sent its FIN (see Handler::OnPeerClosed); nothing more will be
  // read.
  bool peer_closed() const { return peer_eof_; }

  // True for UDP: each OnData is one datagram and each Write sends one
  // datagram (to remote_address(), the sender of the datagram being handled
  // on a listener's view).
  bool is_datagram() const { return datagram_; }

  // Calls OnTick every `interval` (zero stops it).
  void SetTick(absl::Duration interval);

  // ---- Identity and options ----
  ActorRef ref() const { return self(); }
  int fd() const { return fd_.Get(); }
  EventLoop& loop() const { return *loop_; }
  Handler& handler() const { return *handler_; }
  const io::SocketAddress& remote_address() const { return remote_; }
  io::SocketAddress local_address() const;
  // Sends a message to any actor (defined in engine.h): the same as
  // loop().engine().Tell<T>(to, args...).
  template <class T, class... Args>
  absl::Status Tell(const ActorRef& to, Args&&... args);

  // Free-form per-connection state for handlers that prefer it to members.
  std::any& context() { return context_; }

  absl::Status SetNoDelay(bool on);
  absl::Status SetKeepAlive(bool on, absl::Duration idle);
  absl::Status SetSendBufferSize(int bytes);
  absl::Status SetRecvBufferSize(int bytes);

 private:
  friend class EventLoop;
  enum class State : uint8_t { kConnecting, kOpen, kClosing, kClosed };

  Conn(EventLoop* loop, io::UniqueFd fd, std::unique_ptr<Handler> handler,
       const io::SocketAddress& remote);

  void Receive(Envelope& message) override;
  void Advance(size_t k);
  // After a handler: releases consumed ring bytes and moves the scratch
  // view's unconsumed bytes into the inbound ring.
  void Settle();
  void AssertOnLoop() const;

  EventLoop* loop_;
  io::UniqueFd fd_;
  std::unique_ptr<Handler> handler_;
  io::ByteRing in_;
  io::ByteRing out_;
  // This event's bytes still in the loop's scratch buffer (zero-copy path).
  const char* view_ = nullptr;
  size_t view_len_ = 0;
  size_t consumed_ = 0;  // ring bytes consumed by the running handler
  io::SocketAddress remote_;
  std::any context_;

  State state_ = State::kOpen;
  uint32_t interest_ = 0;
  bool read_paused_ = false;  // back-pressure
  bool user_paused_ = false;  // PauseReading
  bool backlogged_ = false;   // a write could not complete at once
  bool datagram_ = false;     // UDP
  bool udp_server_ = false;   // a UDP listener's per-loop view: sendto
  bool owns_fd_ = true;       // false for a UDP listener's view
  bool dirty_ = false;        // in the loop's flush list
  bool linger_armed_ = false;
  bool fin_sent_ = false;     // lingering close: FIN out, draining input
  bool peer_eof_ = false;     // read returned EOF: never read again
  bool shutdown_write_ = false;  // ShutdownWrite: FIN once output is flushed
  bool write_fin_sent_ = false;  // ... and it went out
  // A clean hang-up (both directions shut) came while reading was paused:
  // off the poller (level-triggered epoll would report it without end)
  // until reading resumes, when the unread bytes and the EOF are read.
  bool hup_parked_ = false;
  CloseReason pending_reason_;

  int64_t last_active_ns_ = 0;  // last byte read or written (idle timeout)
  uint32_t tick_generation_ = 0;
  absl::Duration tick_interval_ = absl::ZeroDuration();

  // Bytes accepted for writing and bytes handed to the kernel, for
  // AsyncWrite completions: (mark, callback) pairs, mark ascending.
  uint64_t bytes_queued_ = 0;
  uint64_t bytes_sent_ = 0;
  std::vector<std::pair<uint64_t, WriteCallback>> write_callbacks_;
  std::vector<absl::AnyInvocable<void()>> close_callbacks_;
  DialCallback dial_done_;  // while connecting
  Admission admission_;     // a place under max_connections (accepted only)
  std::string dial_target_;  // for connect error messages
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_CONNECTION_H_
