#include "balance/source_hash.h"

#include <netinet/in.h>

#include <cstring>

namespace actnet::balance {
namespace {

// FNV-1a over the address bytes, then a 64-bit finaliser (the MurmurHash3
// fmix64 constants) so nearby addresses spread over all bits.
uint64_t HashBytes(const unsigned char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::optional<uint64_t> SourceHash::HashPeer(const sockaddr* peer,
                                             socklen_t peer_len) {
  if (peer == nullptr || peer_len < sizeof(sa_family_t)) return std::nullopt;
  if (peer->sa_family == AF_INET && peer_len >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, peer, sizeof(in));
    return HashBytes(reinterpret_cast<const unsigned char*>(&in.sin_addr), 4);
  }
  if (peer->sa_family == AF_INET6 && peer_len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, peer, sizeof(in6));
    const unsigned char* bytes = in6.sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return HashBytes(bytes + 12, 4);
    return HashBytes(bytes, 16);
  }
  return std::nullopt;
}

size_t SourceHash::Pick(const sockaddr* peer, socklen_t peer_len,
                        absl::Span<const std::atomic<int64_t>> loads) {
  const size_t n = loads.size();
  if (n == 0) return 0;
  std::optional<uint64_t> h = HashPeer(peer, peer_len);
  if (!h) return fallback_.Next(n);
  return static_cast<size_t>(*h % n);
}

}  // namespace actnet::balance
