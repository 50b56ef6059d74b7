// LeastConnections hands a connection to the loop with the fewest current
// connections; ties go round-robin, so loops with equal load share new
// connections instead of the first one taking them all. It owns only its
// tie-break cursor. Accepting thread only; the loads are read with relaxed
// atomic loads.

#ifndef ACTNET_BALANCE_LEAST_CONNECTIONS_H_
#define ACTNET_BALANCE_LEAST_CONNECTIONS_H_

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace actnet::balance {

class LeastConnections {
 public:
  // Scans every loop once, starting after the previous pick; the first
  // strictly lowest load wins.
  size_t Pick(const sockaddr* peer, socklen_t peer_len,
              absl::Span<const std::atomic<int64_t>> loads);

 private:
  size_t start_ = 0;
};

}  // namespace actnet::balance

#endif  // ACTNET_BALANCE_LEAST_CONNECTIONS_H_
