// libFuzzer target for io::ParseAddress and io::SocketAddress; the checks
// live in address_check.cc. Built by tools/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/address_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Status s = actnet::fuzz::CheckAddress(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) {
    std::fprintf(stderr, "address check failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  return 0;
}
