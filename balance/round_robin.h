// RoundRobin hands connections to loops 0, 1, ..., n-1, 0, ... regardless of
// peer or load. It owns only its cursor. Accepting thread only.

#ifndef ACTNET_BALANCE_ROUND_ROBIN_H_
#define ACTNET_BALANCE_ROUND_ROBIN_H_

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace actnet::balance {

class RoundRobin {
 public:
  size_t Pick(const sockaddr* peer, socklen_t peer_len,
              absl::Span<const std::atomic<int64_t>> loads) {
    return Next(loads.size());
  }

  // The next index in [0, n) (0 when n == 0). No division: the loop count
  // may change between calls, so the cursor is clamped instead.
  size_t Next(size_t n) {
    if (n == 0) return 0;
    if (next_ >= n) next_ = 0;
    return next_++;
  }

 private:
  size_t next_ = 0;
};

}  // namespace actnet::balance

#endif  // ACTNET_BALANCE_ROUND_ROBIN_H_
