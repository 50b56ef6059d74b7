// The properties the TLS fuzzer checks, shared by the libFuzzer target
// (fuzz/tls_fuzzer.cc) and the regression test (tests/fuzz/).
//
// The input is what a client sends to a server-side tls::TlsSession (a
// self-signed P-256 certificate made in-process), cut into reads: each
// read is one length byte b, then up to 8 * b + 1 bytes. Then the peer's
// FIN, then a close. The session must never crash or leak (the sanitizers
// see to that), report a failure at most once and nothing after it, never
// open (no input can finish a handshake without the client's keys), never
// hand plaintext to the connection, and keep what it queues for the
// backend bounded (the server's flight and an alert: under 64 KiB).
//
// Thread-safe after the first call (which makes the certificate).
#ifndef ACTNET_FUZZ_TLS_CHECK_H_
#define ACTNET_FUZZ_TLS_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace actnet::fuzz {

// OK, or an Internal error saying which property failed.
absl::Status CheckTls(absl::string_view input);

}  // namespace actnet::fuzz

#endif  // ACTNET_FUZZ_TLS_CHECK_H_
