// The properties the RESP fuzzer checks, shared by the libFuzzer target
// (fuzz/resp_fuzzer.cc) and the regression test (tests/fuzz/).
//
// The input drives redis::RespParser with small limits (kRespTestLimits),
// so every limit is reachable by small inputs. Its first byte is the
// largest piece a client sends at once (0: everything at once), its second
// seeds the generator that picks each piece's size, and the rest is the
// byte stream. Whatever it is:
//  - parsing the stream as it arrives in pieces gives exactly the requests
//    (and the final error, if any) that parsing it whole gives: a request
//    cut anywhere is resumed correctly;
//  - kCommand consumes at least one byte and no more than it was given;
//    kNeedMore never leaves more bytes waiting than one request within the
//    limits can hold, and wanted(), when set, asks for more than is there;
//  - each request of at most max_args arguments, re-encoded as a
//    multibulk array with the reply encoders, parses back to the same
//    arguments and consumes all of it;
//  - an error, sent as AppendError(error()), is one well-formed RESP error
//    line: "-ERR Protocol error: ...\r\n" with no other CR or LF.
//
// Stateless; thread-safe.
#ifndef ACTNET_FUZZ_RESP_CHECK_H_
#define ACTNET_FUZZ_RESP_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "examples/redis/resp.h"

namespace actnet::fuzz {

inline constexpr redis::RespLimits kRespTestLimits{
    .max_bulk = 1024, .max_args = 64, .max_inline = 256};

// Runs the parser on `input`. Returns OK, or an Internal error naming the
// first property that failed.
absl::Status CheckResp(absl::string_view input);

}  // namespace actnet::fuzz

#endif  // ACTNET_FUZZ_RESP_CHECK_H_
