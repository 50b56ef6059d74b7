// SourceHash sends every connection from one client host to the same loop:
// it hashes the peer's IP address (not the port) with a fixed,
// process-independent hash. An IPv4-mapped IPv6 peer (::ffff:a.b.c.d)
// hashes like the IPv4 address. Peers without an IP address (null, unix
// sockets, truncated addresses) fall back to round-robin. Owns only that
// fallback cursor. Accepting thread only.

#ifndef ACTNET_BALANCE_SOURCE_HASH_H_
#define ACTNET_BALANCE_SOURCE_HASH_H_

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/types/span.h"
#include "balance/round_robin.h"

namespace actnet::balance {

class SourceHash {
 public:
  size_t Pick(const sockaddr* peer, socklen_t peer_len,
              absl::Span<const std::atomic<int64_t>> loads);

  // The 64-bit hash of the peer's IP address, or nullopt when the peer has
  // none. Exposed for tests and for callers that shard by client.
  static std::optional<uint64_t> HashPeer(const sockaddr* peer,
                                          socklen_t peer_len);

 private:
  RoundRobin fallback_;
};

}  // namespace actnet::balance

#endif  // ACTNET_BALANCE_SOURCE_HASH_H_
