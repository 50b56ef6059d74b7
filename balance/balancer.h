// A Balancer chooses the event loop that adopts a newly accepted
// connection. It is a tiny strategy object owned by the thread that
// accepts and called only from that thread, so it needs no locking itself;
// the per-loop load counters it reads are written concurrently by the
// loops and are read with relaxed atomic loads (a slightly stale count
// only makes the choice slightly less even). The concrete strategies
// (round_robin.h, least_connections.h, source_hash.h) are plain classes
// with the same Pick signature, usable without a virtual call;
// MakeBalancer wraps one behind this interface.

#ifndef ACTNET_BALANCE_BALANCER_H_
#define ACTNET_BALANCE_BALANCER_H_

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace actnet::balance {

enum class Strategy { kRoundRobin, kLeastConnections, kSourceHash };

// "round_robin", "least_conn" or "source_hash"; anything else is
// InvalidArgument listing the valid names.
absl::StatusOr<Strategy> ParseStrategy(absl::string_view name);
// The name ParseStrategy accepts for `s`.
absl::string_view StrategyName(Strategy s);

class Balancer {
 public:
  virtual ~Balancer() = default;

  // Returns the index of the loop for a new connection, in
  // [0, loads.size()) (0 when `loads` is empty). `peer` is the accepted
  // socket's peer address and may be null or AF_UNIX; loads[i] is the
  // current connection count of loop i. Accepting thread only.
  virtual size_t Pick(const sockaddr* peer, socklen_t peer_len,
                      absl::Span<const std::atomic<int64_t>> loads) = 0;
};

std::unique_ptr<Balancer> MakeBalancer(Strategy s);

}  // namespace actnet::balance

#endif  // ACTNET_BALANCE_BALANCER_H_
