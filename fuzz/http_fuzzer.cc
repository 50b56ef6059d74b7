// libFuzzer target for the HTTP example's http::Session; the checks
// live in http_check.cc. Built by tools/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/http_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Status s = actnet::fuzz::CheckHttp(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) {
    std::fprintf(stderr, "http check failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  return 0;
}
