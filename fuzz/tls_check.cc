#include "fuzz/tls_check.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "io/backend.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace actnet::fuzz {
namespace {

constexpr size_t kMaxQueued = 64 * 1024;

// Takes every send whole; counts what it was given.
class NullBackend final : public io::Backend {
 public:
  size_t sent = 0;
  int closes = 0;

  absl::Status AddWaker(int) override { return absl::OkStatus(); }
  absl::StatusOr<io::Handle> AddStream(io::UniqueFd, io::StreamSink*,
                                       uint32_t) override {
    return 1;
  }
  absl::StatusOr<io::Handle> Connect(const io::SocketAddress&, io::StreamSink*,
                                     uint32_t, int*) override {
    return absl::UnimplementedError("fuzz");
  }
  absl::StatusOr<io::Handle> AddDatagram(int, bool, io::DatagramSink*,
                                         uint32_t) override {
    return absl::UnimplementedError("fuzz");
  }
  absl::StatusOr<io::Handle> AddAcceptor(int, io::AcceptSink*,
                                         uint32_t) override {
    return absl::UnimplementedError("fuzz");
  }
  void SetReading(io::Handle, io::Reading) override {}
  ssize_t Send(io::Handle, const iovec* iov, int count) override {
    size_t n = 0;
    for (int i = 0; i < count; ++i) n += iov[i].iov_len;
    sent += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t SendDatagram(io::Handle, absl::string_view,
                       const io::SocketAddress*) override {
    return -ENOTSUP;
  }
  int ShutdownWrite(io::Handle) override { return 0; }
  void PauseAccept(io::Handle) override {}
  void ResumeAccept(io::Handle) override {}
  void Close(io::Handle, io::CloseMode) override { ++closes; }
  int Poll(absl::Span<io::Completion>, int) override { return 0; }
  int PollMore(absl::Span<io::Completion>, int) override { return 0; }
  bool HasPending() const override { return false; }
  uint32_t OwnerOf(const io::Completion&) const override { return 0; }
  void Dispatch(const io::Completion&) override {}
};

// The connection's side: what the session reports to it.
class Recorder final : public io::StreamSink, public tls::TlsSession::Owner {
 public:
  size_t plaintext = 0;
  int opens = 0;
  int failures = 0;
  int after_failure = 0;  // anything reported once it failed

  void OnRead(absl::string_view data) override {
    Note();
    plaintext += data.size();
  }
  void OnReadEof() override { Note(); }
  void OnSendReady() override {}
  void OnConnected(int) override { Note(); }
  void OnHangup(int) override { Note(); }
  void OnTlsOpen() override {
    Note();
    ++opens;
  }
  void OnTlsFailed(const absl::Status&) override {
    Note();
    ++failures;
  }

 private:
  void Note() {
    if (failures > 0) ++after_failure;
  }
};

// A self-signed P-256 certificate, written to a private directory only
// long enough for the context to load it.
std::shared_ptr<tls::TlsContext> MakeContext() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz"),
                             -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  char dir[] = "/tmp/actnet-tls-fuzz-XXXXXX";
  if (mkdtemp(dir) == nullptr) std::abort();
  const std::string cert_file = absl::StrCat(dir, "/cert.pem");
  const std::string key_file = absl::StrCat(dir, "/key.pem");
  FILE* f = std::fopen(cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  TlsOptions options;
  options.cert_file = cert_file;
  options.key_file = key_file;
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> context =
      tls::TlsContext::Create(options, tls::Role::kServer);
  unlink(cert_file.c_str());
  unlink(key_file.c_str());
  rmdir(dir);
  if (!context.ok()) {
    std::fprintf(stderr, "%s\n", context.status().ToString().c_str());
    std::abort();
  }
  return *context;
}

}  // namespace

absl::Status CheckTls(absl::string_view input) {
  static const std::shared_ptr<tls::TlsContext> context = MakeContext();
  NullBackend backend;
  Recorder conn;
  absl::StatusOr<std::unique_ptr<tls::TlsSession>> made =
      tls::TlsSession::Create(context, &conn, &conn, "");
  if (!made.ok()) return made.status();
  tls::TlsSession& session = **made;
  session.Attach(&backend, 1);
  size_t reads = 0;
  while (!input.empty()) {
    const size_t want = 8 * static_cast<uint8_t>(input[0]) + 1;
    input.remove_prefix(1);
    const absl::string_view piece = input.substr(0, want);
    input.remove_prefix(piece.size());
    session.OnRead(piece);
    ++reads;
    if (session.pending() > kMaxQueued) {
      return absl::InternalError(absl::StrCat(
          "read ", reads, ": ", session.pending(), " bytes queued for the backend"));
    }
  }
  session.OnReadEof();
  session.Close(io::CloseMode::kClose);
  if (conn.failures > 1) {
    return absl::InternalError(absl::StrCat(conn.failures, " failures reported"));
  }
  if (conn.after_failure > 0) {
    return absl::InternalError(absl::StrCat(conn.after_failure,
                                            " reports after the failure"));
  }
  if (conn.opens > 0 || conn.plaintext > 0) {
    return absl::InternalError(absl::StrCat("opened ", conn.opens, " times, ",
                                            conn.plaintext, " plaintext bytes"));
  }
  if (backend.sent > kMaxQueued) {
    return absl::InternalError(absl::StrCat(backend.sent, " bytes sent"));
  }
  if (backend.closes != 1) {
    return absl::InternalError(absl::StrCat(backend.closes, " backend closes"));
  }
  return absl::OkStatus();
}

}  // namespace actnet::fuzz
