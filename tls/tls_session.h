// TlsSession: TLS over one stream connection. It sits between the backend
// and the connection: the backend reports ciphertext to it (it is the
// stream's io::StreamSink), and it reports plaintext to the connection's
// sink (`inner`); the connection sends plaintext through it. OpenSSL reads
// the backend's buffer in place and writes ciphertext into the session's
// queue through a BIO of its own: no memory BIO copies, no socket calls.
//
// The handshake comes first: the owner hears OnTlsOpen (then plaintext
// flows) or OnTlsFailed. "Wants read" during a write and "wants write"
// during a read are handled by always flushing what OpenSSL queued and
// always reading what arrived; nothing spins.
//
// Thread contract: the owning loop's thread only. Owned by its connection.
#ifndef ACTNET_TLS_TLS_SESSION_H_
#define ACTNET_TLS_TLS_SESSION_H_

#include <openssl/ssl.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "io/backend.h"
#include "tls/tls_context.h"

namespace actnet::tls {

class TlsSession final : public io::StreamSink {
 public:
  // What the session tells its connection besides the byte stream.
  class Owner {
   public:
    virtual void OnTlsOpen() = 0;
    // The handshake failed (`why` says how): the connection closes.
    virtual void OnTlsFailed(const absl::Status& why) = 0;

   protected:
    ~Owner() = default;
  };

  // `destination` (client): the key sessions are kept under, and the name
  // verified and sent as SNI unless options().server_name says otherwise.
  static absl::StatusOr<std::unique_ptr<TlsSession>> Create(
      std::shared_ptr<TlsContext> context, io::StreamSink* inner,
      Owner* owner, std::string destination);
  ~TlsSession();

  // The backend registration, once made (before any completion of it).
  void Attach(io::Backend* backend, io::Handle handle) {
    backend_ = backend;
    handle_ = handle;
  }
  absl::Duration handshake_timeout() const {
    return context_->options().handshake_timeout;
  }

  // The connection's side, plaintext. Send takes what fits under the
  // ciphertext limit (less means OnSendReady follows), or -errno.
  ssize_t Send(const iovec* iov, int count);
  // close_notify, then the FIN once the ciphertext before it is out.
  int ShutdownWrite();
  // kClose sends close_notify first; kReset does not.
  void Close(io::CloseMode mode);
  void SetReading(io::Reading reading) {
    backend_->SetReading(handle_, reading);
  }
  // Ciphertext not yet taken by the backend.
  size_t pending() const { return out_.size() - out_begin_; }
  // The protocol ALPN chose ("" if none).
  std::string alpn() const;
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }

  // io::StreamSink: the backend's side, ciphertext.
  void OnRead(absl::string_view data) override;
  void OnReadEof() override;
  void OnSendReady() override;
  void OnConnected(int err) override;
  void OnHangup(int err) override;

  // The BIO's side (tls_session.cc).
  int ReadCipher(char* to, int size);
  void WriteCipher(const char* data, int size);

 private:
  // Ciphertext beyond this stops Send taking plaintext until it drains.
  static constexpr size_t kCipherLimit = 64 * 1024;
  static constexpr size_t kRecord = 16 * 1024;  // TLS's largest record

  TlsSession(std::shared_ptr<TlsContext> context, io::StreamSink* inner,
             Owner* owner, std::string destination);
  absl::Status Init();
  // A client's handshake starts once the backend reports it connected.
  void StartClient();
  // Runs the handshake with what arrived; true once established.
  void Handshake();
  // Decrypts everything that arrived and hands it to `inner`.
  void ReadPlain();
  // SSL_write of one piece; false on a fatal error.
  bool Encrypt(const char* data, size_t size);
  // Offers queued ciphertext to the backend.
  void Flush();
  absl::Status HandshakeError(int ssl_error);
  void Fail(const absl::Status& why);

  std::shared_ptr<TlsContext> context_;
  io::StreamSink* const inner_;
  Owner* const owner_;
  const std::string destination_;
  SSL* ssl_ = nullptr;
  io::Backend* backend_ = nullptr;
  io::Handle handle_ = io::kNoHandle;
  absl::string_view in_;  // ciphertext of the OnRead being handled
  std::string out_;       // ciphertext for the backend: [out_begin_, end)
  size_t out_begin_ = 0;
  int send_err_ = 0;
  bool established_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool notify_sent_ = false;    // our close_notify is queued
  bool eof_told_ = false;       // inner heard OnReadEof
  bool fin_pending_ = false;    // FIN after the ciphertext queued
};

}  // namespace actnet::tls

#endif  // ACTNET_TLS_TLS_SESSION_H_
