// The properties the HTTP fuzzer checks, shared by the libFuzzer target
// (fuzz/http_fuzzer.cc) and the regression test (tests/fuzz/).
//
// The input drives one http::Session of the HTTP example. Its first byte is
// the largest piece to feed at once (0: everything in one Feed), its
// second seeds the generator that picks each piece's size, and the rest are
// the bytes a client sent. Whatever they are:
//  - the session neither crashes nor runs away (the output is bounded by
//    the input: at most one response per 16 input bytes, plus one);
//  - what it writes is a sequence of whole, well-formed responses: each
//    starts with "HTTP/1.1 ", has a known status and its reason, headers
//    that end in a blank line, exactly one Content-Length and that many
//    body bytes, never more than the session's body limit;
//  - a response saying "Connection: close" is the last one, and once Feed
//    has returned false the session writes nothing more and keeps
//    returning false; a session that closes says so in its last response.
//
// Stateless; thread-safe (each call has its own session).
#ifndef ACTNET_FUZZ_HTTP_CHECK_H_
#define ACTNET_FUZZ_HTTP_CHECK_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace actnet::fuzz {

// The body limit of the session under test: small, so the fuzzer reaches
// the 413 paths with small inputs.
inline constexpr size_t kHttpMaxBody = 4096;

// Runs the session on `input`. Returns OK, or an Internal error naming the
// first property that failed and the output so far.
absl::Status CheckHttp(absl::string_view input);

}  // namespace actnet::fuzz

#endif  // ACTNET_FUZZ_HTTP_CHECK_H_
