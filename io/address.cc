// Address: URL parsing, canonical formatting and DNS-free resolution.

#include "io/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace actnet::io {
namespace {

// sun_path holds 108 bytes including the terminating NUL.
constexpr size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

std::optional<Network> NetworkFromScheme(absl::string_view scheme) {
  for (Network n : {Network::kTcp, Network::kTcp4, Network::kTcp6,
                    Network::kUdp, Network::kUdp4, Network::kUdp6,
                    Network::kUnix}) {
    if (scheme == NetworkName(n)) return n;
  }
  return std::nullopt;
}

bool WantsV4(Network n) { return n == Network::kTcp4 || n == Network::kUdp4; }
bool WantsV6(Network n) { return n == Network::kTcp6 || n == Network::kUdp6; }

// Resolves host/port/path; errors carry only the problem, callers add the
// context ("resolve <url>" or `address "<input>"`).
absl::StatusOr<SocketAddress> ResolveBare(const Address& a) {
  SocketAddress out;
  if (a.network == Network::kUnix) {
    if (a.path.empty()) return absl::InvalidArgumentError("empty unix path");
    if (a.path.size() > kMaxUnixPath || a.path.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unix path \"", a.path, "\" is ", a.path.size(),
                       " bytes; the limit is ", kMaxUnixPath, " bytes"));
    }
    auto* un = reinterpret_cast<sockaddr_un*>(out.mutable_data());
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, a.path.data(), a.path.size());
    out.set_size(offsetof(sockaddr_un, sun_path) + a.path.size() + 1);
    return out;
  }
  in_addr v4{};
  in6_addr v6{};
  bool is_v6;
  if (a.host.empty() || a.host == "localhost") {
    is_v6 = WantsV6(a.network);
    bool any = a.host.empty();
    v4.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
    v6 = any ? in6addr_any : in6addr_loopback;
  } else if (::inet_pton(AF_INET, a.host.c_str(), &v4) == 1) {
    if (WantsV6(a.network)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host \"", a.host, "\" is IPv4 but the network is ",
          NetworkName(a.network)));
    }
    is_v6 = false;
  } else if (::inet_pton(AF_INET6, a.host.c_str(), &v6) == 1) {
    if (WantsV4(a.network)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host \"", a.host, "\" is IPv6 but the network is ",
          NetworkName(a.network)));
    }
    is_v6 = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("host \"", a.host,
                     "\" is not a numeric IP address or \"localhost\""));
  }
  if (is_v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(out.mutable_data());
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    in6->sin6_addr = v6;
    out.set_size(sizeof(sockaddr_in6));
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(out.mutable_data());
    in->sin_family = AF_INET;
    in->sin_port = htons(a.port);
    in->sin_addr = v4;
    out.set_size(sizeof(sockaddr_in));
  }
  return out;
}

absl::StatusOr<bool> ParseBool(absl::string_view key, absl::string_view v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("bad value \"", v, "\" for ", key, " (want true or false)"));
}

// A non-negative decimal of at most 9 digits, or -1. Stops at the first
// bad character, so nothing longer or non-numeric is ever multiplied (9
// digits always fit an int).
int ParseCount(absl::string_view value) {
  if (value.empty() || value.size() > 9) return -1;
  int n = 0;
  for (char c : value) {
    if (!absl::ascii_isdigit(c)) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

absl::Status ParseQuery(absl::string_view query, AddressOptions* options) {
  for (absl::string_view item : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    size_t eq = item.find('=');
    absl::string_view key = item.substr(0, eq);
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("option \"", key, "\" has no value"));
    }
    absl::string_view value = item.substr(eq + 1);
    if (key == "reuseport" || key == "reuseaddr") {
      absl::StatusOr<bool> b = ParseBool(key, value);
      if (!b.ok()) return b.status();
      (key == "reuseport" ? options->reuseport : options->reuseaddr) = *b;
    } else if (key == "backlog") {
      const int n = ParseCount(value);
      if (n < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bad value \"", value, "\" for backlog (want an integer >= 1)"));
      }
      options->backlog = n;
    } else if (key == "multicast_if") {
      const int n = ParseCount(value);
      if (n < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bad value \"", value,
            "\" for multicast_if (want an interface index >= 0)"));
      }
      options->multicast_if = n;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option \"", key, "\""));
    }
  }
  return absl::OkStatus();
}

// Splits "host:port", "[v6]:port" or ":port" into host and port.
absl::Status ParseHostPort(absl::string_view hp, Address* a) {
  absl::string_view host, rest;
  if (absl::StartsWith(hp, "[")) {
    size_t close = hp.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unbalanced brackets around host");
    }
    host = hp.substr(1, close - 1);
    rest = hp.substr(close + 1);
    if (host.empty()) return absl::InvalidArgumentError("empty host in []");
  } else {
    if (hp.find(']') != absl::string_view::npos) {
      return absl::InvalidArgumentError("unbalanced brackets around host");
    }
    size_t colon = hp.find(':');
    if (colon != absl::string_view::npos &&
        hp.find(':', colon + 1) != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "an IPv6 host must be in brackets, e.g. [::1]:9000");
    }
    host = hp.substr(0, colon);
    rest = colon == absl::string_view::npos ? "" : hp.substr(colon);
  }
  if (host.find('[') != absl::string_view::npos) {
    return absl::InvalidArgumentError("unbalanced brackets around host");
  }
  if (rest.empty() || rest == ":") return absl::InvalidArgumentError("missing port");
  if (rest[0] != ':') {
    return absl::InvalidArgumentError(
        absl::StrCat("junk \"", rest, "\" after host"));
  }
  rest.remove_prefix(1);
  size_t digits = 0;
  uint32_t port = 0;
  while (digits < rest.size() && absl::ascii_isdigit(rest[digits])) {
    if (port <= 65535) port = port * 10 + (rest[digits] - '0');
    ++digits;
  }
  if (digits == 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad port \"", rest, "\""));
  }
  if (digits < rest.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("junk \"", rest.substr(digits), "\" after port"));
  }
  if (port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", rest, " out of range (0-65535)"));
  }
  a->host = std::string(host);
  a->port = static_cast<uint16_t>(port);
  return absl::OkStatus();
}

absl::Status ParseInto(absl::string_view url, Address* a) {
  size_t sep = url.find("://");
  if (sep == absl::string_view::npos) {
    return absl::InvalidArgumentError("missing \"://\" after the scheme");
  }
  std::string scheme = absl::AsciiStrToLower(url.substr(0, sep));
  std::optional<Network> network = NetworkFromScheme(scheme);
  if (!network) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown scheme \"", scheme,
        "\" (want tcp, tcp4, tcp6, udp, udp4, udp6 or unix)"));
  }
  a->network = *network;
  absl::string_view rest = url.substr(sep + 3);
  size_t q = rest.find('?');
  absl::string_view target = rest.substr(0, q);
  if (q != absl::string_view::npos) {
    absl::Status s = ParseQuery(rest.substr(q + 1), &a->options);
    if (!s.ok()) return s;
  }
  if (a->network == Network::kUnix) {
    if (target.empty()) return absl::InvalidArgumentError("empty unix path");
    a->path = std::string(target);
  } else {
    absl::Status s = ParseHostPort(target, a);
    if (!s.ok()) return s;
  }
  if (a->options.multicast_if != 0 &&
      (!IsDatagram(a->network) || !IsMulticastHost(a->host))) {
    return absl::InvalidArgumentError(
        "multicast_if needs a udp address whose host is a multicast group");
  }
  return ResolveBare(*a).status();
}

}  // namespace

std::string Address::ToString() const {
  std::string out = absl::StrCat(NetworkName(network), "://");
  if (network == Network::kUnix) {
    absl::StrAppend(&out, path);
  } else if (host.find(':') != std::string::npos) {
    absl::StrAppend(&out, "[", host, "]:", port);
  } else {
    absl::StrAppend(&out, host, ":", port);
  }
  const AddressOptions defaults;
  char sep = '?';
  auto add = [&](absl::string_view key, absl::string_view value) {
    absl::StrAppend(&out, absl::string_view(&sep, 1), key, "=", value);
    sep = '&';
  };
  if (options.reuseport != defaults.reuseport) {
    add("reuseport", options.reuseport ? "true" : "false");
  }
  if (options.reuseaddr != defaults.reuseaddr) {
    add("reuseaddr", options.reuseaddr ? "true" : "false");
  }
  if (options.backlog != defaults.backlog) {
    add("backlog", absl::StrCat(options.backlog));
  }
  if (options.multicast_if != defaults.multicast_if) {
    add("multicast_if", absl::StrCat(options.multicast_if));
  }
  return out;
}

absl::StatusOr<SocketAddress> Address::Resolve() const {
  absl::StatusOr<SocketAddress> out = ResolveBare(*this);
  if (!out.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resolve ", ToString(), ": ", out.status().message()));
  }
  return out;
}

bool IsMulticastHost(absl::string_view host) {
  const std::string h(host);
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return IN_MULTICAST(ntohl(v4.s_addr));
  }
  return ::inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_MULTICAST(&v6);
}

absl::StatusOr<Address> ParseAddress(absl::string_view url) {
  Address a;
  absl::Status s = ParseInto(url, &a);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", url, "\": ", s.message()));
  }
  return a;
}

}  // namespace actnet::io
