// StreamConn: a TCP or unix stream connection. It owns its stream: the
// registration with the backend, the inbound and outbound bytes, gathered
// writes, back-pressure, half-close and the graceful close. The backend
// reports its socket's outcomes to it (io::StreamSink); the loop owns the
// object (its actor table) and destroys it after it closes.
// Thread contract: the owning loop's thread only.
#ifndef ACTNET_ACTORS_STREAM_CONN_H_
#define ACTNET_ACTORS_STREAM_CONN_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actors/admission.h"
#include "actors/conn_core.h"
#include "io/backend.h"
#include "io/buffer.h"
#include "io/unique_fd.h"
#include "tls/tls_session.h"

namespace actnet::internal {

// States. Lifecycle (Conn::State): kConnecting -> kOpen -> kClosing
// (flushing queued output) -> kLingering (output sent, FIN out, reading
// until the peer's FIN or close_linger) -> kClosed. A close that need not
// linger (the peer's FIN already read, an error, a timeout) goes straight
// to kClosed; an error or Abort from any state too.
// Read side: kOpen, then kEof once the peer's FIN is read. Reading is held
// while the user paused it or back-pressure holds it (queued output above
// the high-water mark, until it drains below the low one).
// Write side: kOpen; kShutdownPending after ShutdownWrite (FIN once queued
// output is flushed); kShut once the FIN is out.
// TLS (tls://): a TlsSession sits between the backend and the connection,
// which stays kConnecting until the handshake is done (then OnOpen); the
// session's ciphertext not yet sent counts as queued output.
class StreamConn final : public ConnCore,
                         public io::StreamSink,
                         private tls::TlsSession::Owner {
 public:
  StreamConn(ConnContext* context, std::unique_ptr<Handler> handler,
             const io::SocketAddress& remote);
  ~StreamConn() override;

  // Set-up, once registered in its loop's actor table. Each takes the
  // socket; if the backend refuses it, the connection closes without
  // OnOpen (and a dial or enroll reports why).
  // An accepted socket: OnOpen runs at once (with `tls`, once the
  // handshake is done; a failed or timed-out handshake closes it unseen).
  void Accept(io::UniqueFd fd, Admission admission,
              std::shared_ptr<tls::TlsContext> tls = nullptr);
  // An adopted, connected socket (Engine::Enroll): OnOpen, then `done`;
  // with `tls`, after a handshake in the context's role.
  void Enroll(io::UniqueFd fd, DialCallback done,
              std::shared_ptr<tls::TlsContext> tls);
  // Connects to `remote` (`target` names it in errors): OnOpen and `done`
  // once connected (with `tls`, once the handshake is done; `destination`,
  // "host:port", keys its sessions and names the server to verify), or
  // `done` with the error or DeadlineExceeded.
  void Dial(const io::SocketAddress& remote, std::string target, bool tcp,
            absl::Duration timeout, DialCallback done,
            std::shared_ptr<tls::TlsContext> tls = nullptr,
            std::string destination = "");

  // Writes queued outside a handler (ConnContext::flush_list).
  void FlushDeferred() {
    flush_scheduled_ = false;
    FlushAndNotify();
  }

  // Conn.
  void Write(absl::string_view data) override;
  void Flush() override;
  size_t OutboundBytes() const override { return Queued(); }
  void Abort() override;
  void ShutdownWrite() override;
  bool write_shut_down() const override { return write_ != WriteSide::kOpen; }
  void PauseReading() override;
  void ResumeReading() override;
  bool peer_closed() const override { return read_ == ReadSide::kEof; }
  bool is_datagram() const override { return false; }
  bool is_tls() const override { return tls_ != nullptr; }
  std::string alpn() const override { return tls_ ? tls_->alpn() : std::string(); }
  bool tls_resumed() const override { return tls_ && tls_->resumed(); }

  // io::StreamSink.
  void OnRead(absl::string_view data) override;
  void OnReadEof() override;
  void OnSendReady() override;
  void OnConnected(int err) override;
  void OnHangup(int err) override;

 private:
  enum class ReadSide : uint8_t { kOpen, kEof };
  enum class WriteSide : uint8_t { kOpen, kShutdownPending, kShut };

  void RunHandler(absl::FunctionRef<Action()> fn) override;
  void CloseGracefully(CloseReason reason) override;
  void CloseNow(CloseReason reason) override {
    Finish(reason, /*reset=*/false);
  }

  // Registers the socket with the backend; false (closed) if refused.
  bool Register(io::UniqueFd fd);
  // With TLS: the session, in kConnecting; false (closed) if refused.
  bool StartTls(std::shared_ptr<tls::TlsContext> context,
                std::string destination);
  void ArmHandshakeTimeout();
  // tls::TlsSession::Owner.
  void OnTlsOpen() override;
  void OnTlsFailed(const absl::Status& why) override;

  // The byte stream: the backend's, or through the TLS session.
  io::StreamSink* sink() { return tls_ ? static_cast<io::StreamSink*>(tls_.get()) : this; }
  // Bytes the backend (or TLS) took, counted as sent and as activity; or
  // -errno.
  ssize_t SendBytes(const iovec* iov, int count) {
    const ssize_t n = tls_ ? tls_->Send(iov, count)
                           : ctx_->backend->Send(handle_, iov, count);
    if (n >= 0) {
      bytes_sent_ += static_cast<uint64_t>(n);
      last_active_ns_ = ctx_->clock_ns;
    }
    return n;
  }
  int ShutdownBytes() {
    return tls_ ? tls_->ShutdownWrite() : ctx_->backend->ShutdownWrite(handle_);
  }
  // Output not yet taken by the backend: queued plaintext and ciphertext.
  size_t Queued() const { return out_.size() + (tls_ ? tls_->pending() : 0); }
  void HandlePeerClosed();
  // Bytes read while reading was held (a completion backend may deliver
  // some after a pause): handed to OnData once reading resumes.
  void DeliverHeld();
  bool gathering() const { return ctx_->gather.owner == this; }
  bool IsLent(absl::string_view data) const {
    return data.data() >= lent_.data() &&
           data.data() + data.size() <= lent_.data() + lent_.size();
  }

  // Write side (stream_conn_write.cc).
  // A handler's Write of at least this many bytes is not copied into the
  // gather: it goes out at once with what was gathered before it, and only
  // what the socket refuses is copied (queued).
  static constexpr size_t kSendAtOnce = 64 * 1024;
  void FlushGather();
  // Sends the gather, queues what the socket refused, clears it. Returns
  // a send's -errno (the gather dropped), else 0. Never closes.
  int SendGathered();
  void FlushQueued();
  void FlushAndNotify();
  // After output moved: completions, the pending close or FIN,
  // back-pressure, what the backend reads.
  void AfterOutput();
  void ScheduleFlush();
  void UpdateReading();

  // Closing.
  void FinishClose();
  void ArmLinger();
  // Closes at once: OnClose, failed completions, the socket closed (reset
  // if `reset` or output is abandoned), the actor released.
  void Finish(CloseReason reason, bool reset);

  io::Handle handle_ = io::kNoHandle;
  io::ByteRing out_;
  absl::string_view lent_;  // the backend's buffer during OnRead
  ReadSide read_ = ReadSide::kOpen;
  WriteSide write_ = WriteSide::kOpen;
  io::Reading reading_ = io::Reading::kOn;  // what the backend was told
  bool back_pressure_ = false;  // holds reading until the queue drains
  bool held_data_ = false;      // bytes arrived while reading was held
  bool backlogged_ = false;     // output waited for the socket: OnDrain owed
  bool flush_scheduled_ = false;
  bool linger_armed_ = false;
  // A send that failed inside a handler's Write (closing there would pull
  // the connection from under the handler): closed by the next FlushGather.
  int deferred_send_err_ = 0;
  Admission admission_;  // a place under max_connections (accepted only)
  std::unique_ptr<tls::TlsSession> tls_;
  bool dialled_ = false;  // by Dial or Enroll: OnTlsOpen opens it as a dial
  bool enrolled_ = false;  // by Enroll: errors say "enroll", not "dial"
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_STREAM_CONN_H_
