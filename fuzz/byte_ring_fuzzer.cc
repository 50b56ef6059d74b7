// libFuzzer target for io::ByteRing; the checks
// live in byte_ring_check.cc. Built by tools/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/byte_ring_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Status s = actnet::fuzz::CheckByteRing(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) {
    std::fprintf(stderr, "byte ring check failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  return 0;
}
