// TlsContext: one OpenSSL SSL_CTX made from TlsOptions, for the server side
// of a tls:// Listen or the client side of tls:// Dials. Internal: public
// headers never include OpenSSL.
//
// Thread contract: immutable once created; SSL_CTX is safe to share, so one
// context serves every loop (its session cache and ticket keys included: a
// session made on loop 0 resumes on loop 3). Owned by shared_ptr: by the
// listening socket, or by the engine's client cache and each session.
#ifndef ACTNET_TLS_TLS_CONTEXT_H_
#define ACTNET_TLS_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actors/options.h"

namespace actnet::tls {

enum class Role { kServer, kClient };

class TlsContext {
 public:
  // Loads and checks everything now: a missing or unreadable file, a file
  // that is not PEM, or a key that does not match the certificate is an
  // InvalidArgument naming the file or the mismatch.
  static absl::StatusOr<std::shared_ptr<TlsContext>> Create(
      const TlsOptions& options, Role role);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  Role role() const { return role_; }
  const TlsOptions& options() const { return options_; }

  // Client side: the session to offer when dialling `destination` (a new
  // reference, or null), and keeping the one a handshake (or a TLS 1.3
  // ticket after it) gave. Thread-safe.
  SSL_SESSION* SessionFor(const std::string& destination) const;
  void KeepSession(const std::string& destination, SSL_SESSION* session);

  // The SSL ex_data slot holding a client session's destination (a
  // const std::string*), read when a new session arrives.
  static int DestinationIndex();

  // The text of OpenSSL's error queue (cleared), or `fallback` if empty.
  static std::string DrainErrors(absl::string_view fallback);

 private:
  TlsContext(const TlsOptions& options, Role role, SSL_CTX* ctx);
  absl::Status Configure();

  const TlsOptions options_;
  const Role role_;
  SSL_CTX* const ctx_;
  std::string alpn_wire_;  // the ALPN list in wire format
  mutable std::mutex mu_;
  std::map<std::string, SSL_SESSION*> sessions_;  // guarded by mu_
};

// A key naming equal options in one role (every field a context reads),
// for sharing contexts between dials or enrolments.
std::string OptionsKey(const TlsOptions& options, Role role);

// tls:// URLs run on TCP: "tls://rest" as "tcp://rest" (other URLs as they
// are, *tls false), and a tcp:// URL (as io::Address prints it) back as
// tls://.
std::string TcpUrlOf(absl::string_view url, bool* tls);
std::string TlsUrlOf(absl::string_view tcp_url);

}  // namespace actnet::tls

#endif  // ACTNET_TLS_TLS_CONTEXT_H_
