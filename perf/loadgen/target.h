// The address the load generator connects to. Only local targets are
// accepted: tcp://, tcp4://, tcp6:// with a loopback host (127.0.0.0/8,
// ::1, "localhost") and unix:///path. Anything else is an error, so a typo
// can never aim the generator at another machine.
//
// A plain value type; thread-safe.
#ifndef ACTNET_PERF_LOADGEN_TARGET_H_
#define ACTNET_PERF_LOADGEN_TARGET_H_

#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actnet::perf {

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool is_tcp = false;
  std::string text;  // as given
};

// Parses "tcp://127.0.0.1:9000", "tcp6://[::1]:9000", "unix:///tmp/e.sock".
// InvalidArgumentError for other schemes, a missing port, or a host that is
// not loopback.
absl::StatusOr<Target> ParseTarget(absl::string_view url);

}  // namespace actnet::perf

#endif  // ACTNET_PERF_LOADGEN_TARGET_H_
