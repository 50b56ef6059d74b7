// SocketAddress and the Network helpers of address.h.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "io/address.h"

namespace actnet::io {

bool IsStream(Network n) {
  switch (n) {
    case Network::kTcp:
    case Network::kTcp4:
    case Network::kTcp6:
    case Network::kUnix:
      return true;
    default:
      return false;
  }
}

bool IsDatagram(Network n) {
  return n == Network::kUdp || n == Network::kUdp4 || n == Network::kUdp6;
}

absl::string_view NetworkName(Network n) {
  switch (n) {
    case Network::kTcp:
      return "tcp";
    case Network::kTcp4:
      return "tcp4";
    case Network::kTcp6:
      return "tcp6";
    case Network::kUdp:
      return "udp";
    case Network::kUdp4:
      return "udp4";
    case Network::kUdp6:
      return "udp6";
    case Network::kUnix:
      return "unix";
  }
  return "unknown";
}

SocketAddress::SocketAddress() { std::memset(&storage_, 0, sizeof(storage_)); }

SocketAddress SocketAddress::FromRaw(const sockaddr* sa, socklen_t len) {
  SocketAddress address;
  if (sa == nullptr) return address;
  address.set_size(len);
  std::memcpy(&address.storage_, sa, address.size_);
  return address;
}

void SocketAddress::Reset() {
  std::memset(&storage_, 0, sizeof(storage_));
  size_ = kCapacity;
}

void SocketAddress::Clear() {
  std::memset(&storage_, 0, sizeof(storage_));
  size_ = 0;
}

int SocketAddress::family() const {
  if (size_ < sizeof(sa_family_t)) return AF_UNSPEC;
  return storage_.ss_family;
}

uint16_t SocketAddress::port() const {
  switch (family()) {
    case AF_INET:
      if (size_ < sizeof(sockaddr_in)) return 0;
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      if (size_ < sizeof(sockaddr_in6)) return 0;
      return ntohs(
          reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN];
  switch (family()) {
    case AF_INET: {
      if (size_ < sizeof(sockaddr_in)) return "";
      const auto* in = reinterpret_cast<const sockaddr_in*>(&storage_);
      ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      return absl::StrCat(text, ":", ntohs(in->sin_port));
    }
    case AF_INET6: {
      if (size_ < sizeof(sockaddr_in6)) return "";
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      if (in6->sin6_scope_id != 0) {
        return absl::StrCat("[", text, "%", in6->sin6_scope_id,
                            "]:", ntohs(in6->sin6_port));
      }
      return absl::StrCat("[", text, "]:", ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      size_t len = size_ - offsetof(sockaddr_un, sun_path);
      if (len == 0) return "";  // unnamed (e.g. a connecting client)
      if (un->sun_path[0] == '\0') {
        // Abstract namespace: the name is exactly `len` bytes after the NUL.
        return absl::StrCat("@", absl::string_view(un->sun_path + 1, len - 1));
      }
      return std::string(un->sun_path, strnlen(un->sun_path, len));
    }
    default:
      return "";
  }
}

bool SocketAddress::operator==(const SocketAddress& other) const {
  return size_ == other.size_ &&
         std::memcmp(&storage_, &other.storage_, size_) == 0;
}

}  // namespace actnet::io
