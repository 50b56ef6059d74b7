#include "tls/tls_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace actnet::tls {
namespace {

// The session's BIO: reads the backend's buffer in place (TlsSession::in_)
// and appends what OpenSSL writes to the session's queue.
int BioWrite(BIO* bio, const char* data, int size) {
  static_cast<TlsSession*>(BIO_get_data(bio))->WriteCipher(data, size);
  return size;
}

int BioRead(BIO* bio, char* to, int size) {
  BIO_clear_retry_flags(bio);
  const int n = static_cast<TlsSession*>(BIO_get_data(bio))->ReadCipher(to, size);
  if (n < 0) BIO_set_retry_read(bio);  // nothing more until the next OnRead
  return n;
}

long BioCtrl(BIO*, int cmd, long, void*) {  // NOLINT(runtime/int): OpenSSL's type
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* Method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "actnet");
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

// "host:port" or "[v6]:port" -> the host.
std::string HostOf(const std::string& destination) {
  if (!destination.empty() && destination[0] == '[') {
    const size_t close = destination.find(']');
    if (close != std::string::npos) return destination.substr(1, close - 1);
  }
  const size_t colon = destination.rfind(':');
  if (colon != std::string::npos && destination.find(':') == colon) {
    return destination.substr(0, colon);
  }
  return destination;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Plaintext decrypted in one OnRead, before it goes to the connection.
// Grows without zero-filling; reused by every session of the thread.
struct PlainBuffer {
  std::unique_ptr<char[]> data;
  size_t size = 0;
  size_t capacity = 0;
  char* Room(size_t n) {
    if (size + n > capacity) {
      const size_t grown = std::max(capacity * 2, size + n);
      std::unique_ptr<char[]> bigger(new char[grown]);
      if (size > 0) std::memcpy(bigger.get(), data.get(), size);
      data = std::move(bigger);
      capacity = grown;
    }
    return data.get() + size;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<TlsSession>> TlsSession::Create(
    std::shared_ptr<TlsContext> context, io::StreamSink* inner, Owner* owner,
    std::string destination) {
  std::unique_ptr<TlsSession> s(new TlsSession(
      std::move(context), inner, owner, std::move(destination)));
  if (absl::Status status = s->Init(); !status.ok()) return status;
  return s;
}

TlsSession::TlsSession(std::shared_ptr<TlsContext> context,
                       io::StreamSink* inner, Owner* owner,
                       std::string destination)
    : context_(std::move(context)),
      inner_(inner),
      owner_(owner),
      destination_(std::move(destination)) {}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // and its BIO
}

absl::Status TlsSession::Init() {
  ERR_clear_error();
  ssl_ = SSL_new(context_->get());
  BIO* bio = BIO_new(Method());
  if (ssl_ == nullptr || bio == nullptr) {
    if (bio != nullptr) BIO_free(bio);
    return absl::ResourceExhaustedError(
        absl::StrCat("tls: ", TlsContext::DrainErrors("SSL_new failed")));
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);
  if (context_->role() == Role::kServer) {
    SSL_set_accept_state(ssl_);
    return absl::OkStatus();
  }
  SSL_set_connect_state(ssl_);
  const TlsOptions& o = context_->options();
  const std::string name =
      o.server_name.empty() ? HostOf(destination_) : o.server_name;
  const bool ip = IsIpAddress(name);
  if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl_, name.c_str());
  if (o.verify_peer && !name.empty()) {
    const int ok =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str())
           : SSL_set1_host(ssl_, name.c_str());
    if (ok != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls: cannot verify the name '", name, "'"));
    }
  }
  SSL_set_ex_data(ssl_, TlsContext::DestinationIndex(),
                  const_cast<std::string*>(&destination_));
  if (SSL_SESSION* session = context_->SessionFor(destination_)) {
    SSL_set_session(ssl_, session);
    SSL_SESSION_free(session);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The BIO's side.

int TlsSession::ReadCipher(char* to, int size) {
  if (in_.empty() || size <= 0) return -1;
  const size_t n = std::min(in_.size(), static_cast<size_t>(size));
  std::memcpy(to, in_.data(), n);
  in_.remove_prefix(n);
  return static_cast<int>(n);
}

void TlsSession::WriteCipher(const char* data, int size) {
  out_.append(data, static_cast<size_t>(size));
}

// ---------------------------------------------------------------------------
// The handshake.

void TlsSession::StartClient() { Handshake(); }

void TlsSession::Handshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  Flush();  // our flight, or the alert that ends it
  if (r == 1) {
    established_ = true;
    owner_->OnTlsOpen();
    return;
  }
  const int e = SSL_get_error(ssl_, r);
  if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
      send_err_ == 0) {
    return;  // more of the peer's flight to come
  }
  Fail(HandshakeError(e));
}

absl::Status TlsSession::HandshakeError(int ssl_error) {
  if (send_err_ != 0) {
    return absl::UnavailableError(absl::StrCat(
        "tls: handshake: sending: ", std::strerror(send_err_)));
  }
  if (context_->role() == Role::kClient) {
    const long verify = SSL_get_verify_result(ssl_);  // NOLINT(runtime/int)
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return absl::UnauthenticatedError(
          absl::StrCat("tls: certificate verify failed: ",
                       X509_verify_cert_error_string(verify)));
    }
  }
  const std::string detail = TlsContext::DrainErrors(
      ssl_error == SSL_ERROR_SYSCALL ? "the connection ended" : "no detail");
  return absl::UnavailableError(absl::StrCat("tls: handshake failed: ", detail));
}

void TlsSession::Fail(const absl::Status& why) {
  if (failed_ || closed_) return;
  failed_ = true;
  owner_->OnTlsFailed(why);
}

// ---------------------------------------------------------------------------
// Reading.

void TlsSession::OnRead(absl::string_view data) {
  if (closed_ || failed_) return;
  in_ = data;
  if (!established_) Handshake();
  if (established_ && !closed_ && !failed_) ReadPlain();
  in_ = absl::string_view();
}

void TlsSession::ReadPlain() {
  static thread_local PlainBuffer scratch;
  PlainBuffer plain = std::move(scratch);  // a session it calls may read too
  plain.size = 0;
  bool peer_done = false;
  bool fatal = false;
  for (;;) {
    char* room = plain.Room(kRecord);
    size_t got = 0;
    ERR_clear_error();
    const int r = SSL_read_ex(ssl_, room, kRecord, &got);
    if (r == 1) {
      plain.size += got;
      continue;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_done = true;  // the peer's close_notify
    } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      fatal = true;  // a bad record, a refused renegotiation, ...
      ERR_clear_error();
    }
    break;
  }
  Flush();  // what reading produced: an alert, a key update's answer
  if (plain.size > 0) {
    inner_->OnRead(absl::string_view(plain.data.get(), plain.size));
  }
  scratch = std::move(plain);
  if (closed_) return;
  if (send_err_ != 0) {
    inner_->OnHangup(send_err_);
  } else if (fatal) {
    failed_ = true;
    inner_->OnHangup(EPROTO);
  } else if (peer_done && !eof_told_) {
    eof_told_ = true;
    inner_->OnReadEof();
  }
}

void TlsSession::OnReadEof() {
  if (closed_ || failed_) return;
  if (!established_) {
    Fail(absl::UnavailableError(
        "tls: the peer closed the connection during the handshake"));
    return;
  }
  if (!eof_told_) {  // a FIN without close_notify: reported all the same
    eof_told_ = true;
    inner_->OnReadEof();
  }
}

void TlsSession::OnHangup(int err) {
  if (closed_) return;
  if (!established_) {
    Fail(absl::UnavailableError(
        absl::StrCat("tls: handshake: ", std::strerror(err != 0 ? err : EPIPE))));
    return;
  }
  inner_->OnHangup(err);
}

void TlsSession::OnConnected(int err) {
  if (err != 0) {
    inner_->OnConnected(err);
    return;
  }
  StartClient();
}

// ---------------------------------------------------------------------------
// Writing.

bool TlsSession::Encrypt(const char* data, size_t size) {
  ERR_clear_error();
  size_t written = 0;
  if (SSL_write_ex(ssl_, data, size, &written) != 1 || written != size) {
    ERR_clear_error();
    return false;
  }
  return true;
}

ssize_t TlsSession::Send(const iovec* iov, int count) {
  if (send_err_ != 0) return -send_err_;
  if (!established_ || failed_ || closed_ || notify_sent_) return -EPIPE;
  // Small pieces are gathered into full records; a large one is encrypted
  // in place. Stops once the ciphertext queue is over its limit.
  char record[kRecord];
  size_t filled = 0;
  size_t taken = 0;
  bool ok = true;
  for (int i = 0; i < count && ok; ++i) {
    const char* p = static_cast<const char*>(iov[i].iov_base);
    size_t n = iov[i].iov_len;
    while (n > 0 && ok) {
      if (pending() >= kCipherLimit) {
        if (filled > 0) ok = Encrypt(record, filled);
        filled = 0;
        Flush();
        if (pending() >= kCipherLimit || send_err_ != 0) goto done;
      }
      if (filled == 0 && n >= kRecord) {
        const size_t m = std::min(n, kCipherLimit);
        ok = Encrypt(p, m);
        p += m;
        n -= m;
        taken += m;
        continue;
      }
      const size_t m = std::min(n, kRecord - filled);
      std::memcpy(record + filled, p, m);
      filled += m;
      p += m;
      n -= m;
      taken += m;
      if (filled == kRecord) {
        ok = Encrypt(record, filled);
        filled = 0;
      }
    }
  }
done:
  if (filled > 0 && ok) ok = Encrypt(record, filled);
  if (!ok) {
    failed_ = true;
    return -EPROTO;
  }
  Flush();
  if (send_err_ != 0) return -send_err_;
  return static_cast<ssize_t>(taken);
}

void TlsSession::Flush() {
  while (pending() > 0 && send_err_ == 0) {
    iovec v{out_.data() + out_begin_, pending()};
    const ssize_t n = backend_->Send(handle_, &v, 1);
    if (n < 0) {
      send_err_ = static_cast<int>(-n);
      break;
    }
    out_begin_ += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < v.iov_len) break;  // OnSendReady follows
  }
  if (send_err_ != 0 || out_begin_ == out_.size()) {
    out_begin_ = 0;
    if (out_.capacity() > 4096) {
      std::string().swap(out_);  // an idle connection keeps no buffer
    } else {
      out_.clear();
    }
  } else if (out_begin_ > out_.size() / 2) {
    out_.erase(0, out_begin_);
    out_begin_ = 0;
  }
  if (fin_pending_ && pending() == 0 && send_err_ == 0) {
    fin_pending_ = false;
    (void)backend_->ShutdownWrite(handle_);
  }
}

void TlsSession::OnSendReady() {
  if (closed_) return;
  Flush();
  if (send_err_ != 0) {
    inner_->OnHangup(send_err_);
    return;
  }
  // Always passed on: the connection counts this queue as its own output
  // (a close or ShutdownWrite may be waiting for it to drain).
  if (pending() < kCipherLimit) inner_->OnSendReady();
}

int TlsSession::ShutdownWrite() {
  if (!established_ || failed_) return backend_->ShutdownWrite(handle_);
  if (!notify_sent_) {
    notify_sent_ = true;
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);  // queues close_notify
    ERR_clear_error();
  }
  Flush();
  if (send_err_ != 0) return -send_err_;
  if (pending() == 0) return backend_->ShutdownWrite(handle_);
  fin_pending_ = true;
  return 0;
}

void TlsSession::Close(io::CloseMode mode) {
  if (closed_) return;
  if (mode == io::CloseMode::kClose && established_ && !failed_ &&
      !notify_sent_ && send_err_ == 0) {
    notify_sent_ = true;
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
    Flush();
  }
  closed_ = true;
  backend_->Close(handle_, mode);
}

std::string TlsSession::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

}  // namespace actnet::tls
