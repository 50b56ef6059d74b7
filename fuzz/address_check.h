// The properties the address fuzzer checks, shared by the libFuzzer target
// (fuzz/address_fuzzer.cc) and the regression test (tests/fuzz/), so a
// reproducer committed under fuzz/regressions/address/ is checked by the
// same code in the normal Bazel suite.
//
// Stateless; thread-safe.
#ifndef ACTNET_FUZZ_ADDRESS_CHECK_H_
#define ACTNET_FUZZ_ADDRESS_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace actnet::fuzz {

// Treats `input` two ways:
//  - as a URL for io::ParseAddress: whatever it is, parsing returns (no
//    crash, no UB); on success the address resolves, and
//    ParseAddress(a.ToString()) succeeds, equals `a` and prints the same;
//  - as raw sockaddr bytes for io::SocketAddress::FromRaw: family(), port()
//    and ToString() stay within the copied bytes, and equality is
//    reflexive.
// Returns OK, or an Internal error naming the first property that failed.
absl::Status CheckAddress(absl::string_view input);

}  // namespace actnet::fuzz

#endif  // ACTNET_FUZZ_ADDRESS_CHECK_H_
