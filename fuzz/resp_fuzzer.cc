// libFuzzer target for the Redis example's redis::RespParser; the checks
// live in resp_check.cc. Built by tools/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/resp_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Status s = actnet::fuzz::CheckResp(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) {
    std::fprintf(stderr, "resp check failed: %s\n", s.ToString().c_str());
    std::abort();
  }
  return 0;
}
