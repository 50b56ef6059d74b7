// The properties the byte ring fuzzer checks, shared by the libFuzzer
// target (fuzz/byte_ring_fuzzer.cc) and the regression test (tests/fuzz/).
//
// The input is a program: a sequence of operations on one io::ByteRing,
// each mirrored on a std::string model. After every operation the ring must
// hold exactly the model's bytes, and its capacity must be 0 or a power of
// two of at least kMinCapacity that fits the bytes and is no more than
// twice what was ever asked of it since it last released its memory.
//
// Encoding, one operation after another until the input ends:
//   byte op, then two bytes n (little endian), except for op kClear and
//   kMove which take no argument. op % kOpCount picks the operation:
//     0 Append n % 4096 bytes      1 Peek n        2 Contiguous n
//     3 Discard n                  4 CopyOut n     5 FillIovecs (n % 4)
//     6 Clear                      7 Reserve n % 4096
//     8 Move out and back (move constructor, then move assignment)
//   A missing or short argument reads as 0. Appends and reserves that
//   would take the ring past 64 KiB are skipped. Appended bytes are a counter
//   mod 251, so a ring that loses its rotation shows it.
//
// Stateless; thread-safe.
#ifndef ACTNET_FUZZ_BYTE_RING_CHECK_H_
#define ACTNET_FUZZ_BYTE_RING_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace actnet::fuzz {

// Runs the program in `input`. Returns OK, or an Internal error naming the
// operation (by index) where the ring and the model diverged.
absl::Status CheckByteRing(absl::string_view input);

}  // namespace actnet::fuzz

#endif  // ACTNET_FUZZ_BYTE_RING_CHECK_H_
