#include "tls/tls_context.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace actnet::tls {
namespace {

// Whether `path` can be opened for reading; else says why.
absl::Status Readable(const std::string& path, absl::string_view what) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls: cannot read ", what, " file ", path, ": ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

absl::Status Failed(absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(message, ": ", TlsContext::DrainErrors("no detail")));
}

// Whether `path` holds a PEM private key (any key: a use that failed then
// failed because it does not match the certificate).
bool IsPemKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return false;
  EVP_PKEY_free(key);
  return true;
}

// The server's pick: its first protocol the client also offers.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  const std::string& ours = *static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen,
                            reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned int>(ours.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no protocol in common
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// A client handshake (or a TLS 1.3 ticket after it) made a session: kept
// for the dial's destination (ex_data set by the session).
int KeepNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* context = static_cast<TlsContext*>(
      SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* destination = static_cast<const std::string*>(
      SSL_get_ex_data(ssl, TlsContext::DestinationIndex()));
  if (context == nullptr || destination == nullptr || destination->empty())
    return 0;
  context->KeepSession(*destination, session);
  return 1;  // the reference is ours now
}

}  // namespace

int TlsContext::DestinationIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsContext::TlsContext(const TlsOptions& options, Role role, SSL_CTX* ctx)
    : options_(options), role_(role), ctx_(ctx) {}

TlsContext::~TlsContext() {
  for (auto& [destination, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

std::string TlsContext::DrainErrors(absl::string_view fallback) {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? std::string(fallback) : text;
}

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Create(
    const TlsOptions& options, Role role) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(role == Role::kServer ? TLS_server_method()
                                                   : TLS_client_method());
  if (ctx == nullptr) return Failed("tls: SSL_CTX_new");
  std::shared_ptr<TlsContext> context(new TlsContext(options, role, ctx));
  if (absl::Status s = context->Configure(); !s.ok()) return s;
  return context;
}

absl::Status TlsContext::Configure() {
  const TlsOptions& o = options_;
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION);
  // OpenSSL's 16 KiB record buffers go back while a connection is idle.
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx_, 1);

  if (role_ == Role::kServer && (o.cert_file.empty() || o.key_file.empty())) {
    return absl::InvalidArgumentError(
        "tls: serving tls:// needs a certificate and a key (TlsOptions "
        "cert_file and key_file)");
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: cert_file and key_file go together");
  }
  if (!o.cert_file.empty()) {
    if (absl::Status s = Readable(o.cert_file, "certificate"); !s.ok()) return s;
    if (absl::Status s = Readable(o.key_file, "key"); !s.ok()) return s;
    if (SSL_CTX_use_certificate_chain_file(ctx_, o.cert_file.c_str()) != 1) {
      return Failed(absl::StrCat("tls: ", o.cert_file,
                                 " is not a PEM certificate chain"));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx_, o.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_) != 1) {
      if (!IsPemKey(o.key_file)) {
        return Failed(absl::StrCat("tls: ", o.key_file, " is not a PEM private key"));
      }
      return Failed(absl::StrCat("tls: the key in ", o.key_file,
                                 " does not match the certificate in ",
                                 o.cert_file));
    }
  }
  if (!o.ca_file.empty()) {
    if (absl::Status s = Readable(o.ca_file, "CA"); !s.ok()) return s;
    if (SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) != 1) {
      return Failed(absl::StrCat("tls: ", o.ca_file, " holds no PEM CA certificate"));
    }
  }
  for (const std::string& p : o.alpn) {
    if (p.empty() || p.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls: ALPN protocol names are 1 to 255 bytes: '", p, "'"));
    }
    alpn_wire_.push_back(static_cast<char>(p.size()));
    alpn_wire_ += p;
  }

  if (role_ == Role::kServer) {
    static constexpr unsigned char kSessionContext[] = "actnet";
    SSL_CTX_set_session_id_context(ctx_, kSessionContext,
                                   sizeof(kSessionContext) - 1);
    if (o.require_client_cert) {
      if (o.ca_file.empty()) {
        return absl::InvalidArgumentError(
            "tls: require_client_cert needs a ca_file to verify clients with");
      }
      SSL_CTX_set_verify(ctx_,
                         SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         nullptr);
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx_, names);
      }
    }
    if (!alpn_wire_.empty()) {
      SSL_CTX_set_alpn_select_cb(ctx_, SelectAlpn, &alpn_wire_);
    }
  } else {
    if (o.verify_peer) {
      if (o.ca_file.empty() && SSL_CTX_set_default_verify_paths(ctx_) != 1) {
        return Failed("tls: loading the system's CA certificates");
      }
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    if (!alpn_wire_.empty() &&
        SSL_CTX_set_alpn_protos(
            ctx_, reinterpret_cast<const unsigned char*>(alpn_wire_.data()),
            static_cast<unsigned int>(alpn_wire_.size())) != 0) {
      return Failed("tls: setting ALPN");
    }
    // Sessions are kept per destination here (KeepSession), not in
    // OpenSSL's cache, which only a server consults.
    SSL_CTX_set_session_cache_mode(
        ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_app_data(ctx_, this);
    SSL_CTX_sess_set_new_cb(ctx_, KeepNewSession);
  }
  ERR_clear_error();
  return absl::OkStatus();
}

SSL_SESSION* TlsContext::SessionFor(const std::string& destination) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(destination);
  if (it == sessions_.end()) return nullptr;
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

void TlsContext::KeepSession(const std::string& destination,
                             SSL_SESSION* session) {
  std::lock_guard<std::mutex> lock(mu_);
  SSL_SESSION*& slot = sessions_[destination];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = session;
}

std::string TcpUrlOf(absl::string_view url, bool* tls) {
  *tls = absl::StartsWith(url, "tls://");
  return *tls ? absl::StrCat("tcp://", url.substr(6)) : std::string(url);
}

std::string TlsUrlOf(absl::string_view tcp_url) {
  return absl::StrCat("tls", tcp_url.substr(3));
}

std::string OptionsKey(const TlsOptions& o, Role role) {
  return absl::StrCat(role == Role::kServer ? "server" : "client", "\n",
                      o.cert_file, "\n", o.key_file, "\n", o.ca_file, "\n",
                      o.require_client_cert, o.verify_peer, "\n",
                      absl::StrJoin(o.alpn, ","), "\n", o.server_name, "\n",
                      absl::ToInt64Nanoseconds(o.handshake_timeout));
}

}  // namespace actnet::tls
