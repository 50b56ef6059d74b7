#include "balance/least_connections.h"

namespace actnet::balance {

size_t LeastConnections::Pick(const sockaddr* peer, socklen_t peer_len,
                              absl::Span<const std::atomic<int64_t>> loads) {
  const size_t n = loads.size();
  if (n == 0) return 0;
  if (start_ >= n) start_ = 0;
  size_t best = start_;
  // Memory ordering: relaxed. The counts are advisory; no other data is
  // published through them.
  int64_t best_load = loads[best].load(std::memory_order_relaxed);
  size_t i = best;
  for (size_t step = 1; step < n; ++step) {
    if (++i == n) i = 0;
    const int64_t load = loads[i].load(std::memory_order_relaxed);
    if (load < best_load) {
      best = i;
      best_load = load;
    }
  }
  start_ = best + 1;
  return best;
}

}  // namespace actnet::balance
