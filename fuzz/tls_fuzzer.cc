// libFuzzer target for a server-side tls::TlsSession; the checks live in
// tls_check.cc. Built by tools/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/tls_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Status s = actnet::fuzz::CheckTls(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) {
    std::fprintf(stderr, "tls check failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  return 0;
}
