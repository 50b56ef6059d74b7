// Addresses in the gnet URL style ("tcp://127.0.0.1:9000",
// "unix:///tmp/a.sock?backlog=128") and the concrete socket addresses they
// resolve to. Address is what a user writes; SocketAddress is what the
// kernel takes and returns (a sockaddr_storage plus its length). Both are
// plain values that own no resources and have no thread affinity.
//
// Resolution never does DNS: hosts are numeric IPv4/IPv6 literals,
// "localhost" or empty (all interfaces).

#ifndef ACTNET_IO_ADDRESS_H_
#define ACTNET_IO_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actnet::io {

enum class Network { kTcp, kTcp4, kTcp6, kUdp, kUdp4, kUdp6, kUnix };

// True for tcp, tcp4, tcp6 and unix.
bool IsStream(Network n);
// True for udp, udp4 and udp6.
bool IsDatagram(Network n);
// The URL scheme: "tcp", "udp6", "unix", ...
absl::string_view NetworkName(Network n);

class SocketAddress {
 public:
  static constexpr socklen_t kCapacity = sizeof(sockaddr_storage);

  // An empty address: size() == 0, family() == AF_UNSPEC.
  SocketAddress();

  // Copies `len` bytes of `sa` (truncated to kCapacity). A null `sa` gives
  // an empty address.
  static SocketAddress FromRaw(const sockaddr* sa, socklen_t len);

  const sockaddr* data() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  sockaddr* mutable_data() { return reinterpret_cast<sockaddr*>(&storage_); }

  socklen_t size() const { return size_; }
  // For accept()/recvfrom()/getsockname(): call Reset() (or
  // set_size(kCapacity)) first so the kernel sees the full capacity.
  socklen_t* mutable_size() { return &size_; }
  void set_size(socklen_t n) { size_ = n < kCapacity ? n : kCapacity; }

  // Zeroes the storage and sets size() to kCapacity, ready to be filled
  // through mutable_data()/mutable_size().
  void Reset();
  // Makes the address empty again (size 0).
  void Clear();
  bool empty() const { return size_ == 0; }

  // AF_INET, AF_INET6, AF_UNIX, ...; AF_UNSPEC when empty.
  int family() const;
  // The port in host order; 0 for unix and empty addresses.
  uint16_t port() const;

  // "127.0.0.1:9000", "[::1]:9000", "/tmp/a.sock", "@name" for an abstract
  // unix socket; "" when empty or an unnamed unix socket.
  std::string ToString() const;

  // Byte-wise equality of the first size() bytes.
  bool operator==(const SocketAddress& other) const;

 private:
  sockaddr_storage storage_;
  socklen_t size_ = 0;
};

struct AddressOptions {
  bool reuseport = false;  // ?reuseport=true: SO_REUSEPORT (TCP and UDP).
  bool reuseaddr = true;   // ?reuseaddr=false: no SO_REUSEADDR.
  int backlog = 4096;      // ?backlog=N: listen() backlog, N >= 1.
  // ?multicast_if=N (udp only, host a multicast group): the index of the
  // interface to join the group on, as gnet's MulticastInterfaceIndex;
  // 0 lets the kernel pick by route.
  int multicast_if = 0;

  bool operator==(const AddressOptions&) const = default;
};

struct Address {
  Network network = Network::kTcp;
  // "" = all interfaces; otherwise a numeric IPv4/IPv6 literal (no
  // brackets) or "localhost".
  std::string host;
  uint16_t port = 0;
  std::string path;  // unix only
  AddressOptions options;

  // The canonical URL, e.g. "tcp://127.0.0.1:9000", "tcp6://[::1]:80",
  // "unix:///tmp/a.sock". Options that differ from their defaults follow as
  // a query ("?reuseport=true&backlog=16"), so ParseAddress(ToString())
  // gives back an equal Address.
  std::string ToString() const;

  // Resolves without DNS: numeric hosts as written; "localhost" ->
  // 127.0.0.1 (::1 for tcp6/udp6); "" -> 0.0.0.0 (:: for tcp6/udp6); unix ->
  // sockaddr_un. Errors are InvalidArgument: an IPv6 literal on tcp4/udp4,
  // an IPv4 literal on tcp6/udp6, a host that is not numeric, an empty unix
  // path or one longer than 107 bytes.
  absl::StatusOr<SocketAddress> Resolve() const;

  bool operator==(const Address&) const = default;
};

// Parses tcp://host:port, tcp4://, tcp6://[::1]:port, udp://, udp4://,
// udp6://, unix:///abs/path and unix://relative/path, each optionally
// followed by ?reuseport=true|false&reuseaddr=true|false&backlog=N (and, for
// a udp multicast group, &multicast_if=N). Port 0 (ephemeral) is allowed. Errors are InvalidArgument and read
// `address "<input>": <problem>`.
absl::StatusOr<Address> ParseAddress(absl::string_view url);

// True if the host is an IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) multicast
// group literal.
bool IsMulticastHost(absl::string_view host);

}  // namespace actnet::io

#endif  // ACTNET_IO_ADDRESS_H_
