#include "perf/loadgen/target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace actnet::perf {
namespace {

absl::Status Bad(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("address ", url, ": ", why));
}

absl::StatusOr<Target> ParseUnix(absl::string_view url, absl::string_view path) {
  Target t;
  t.text = std::string(url);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof un.sun_path) {
    return Bad(url, "unix path empty or too long");
  }
  std::memcpy(un.sun_path, path.data(), path.size());
  std::memcpy(&t.addr, &un, sizeof un);
  t.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return t;
}

}  // namespace

absl::StatusOr<Target> ParseTarget(absl::string_view url) {
  size_t sep = url.find("://");
  if (sep == absl::string_view::npos) return Bad(url, "expected scheme://");
  absl::string_view scheme = url.substr(0, sep);
  absl::string_view rest = url.substr(sep + 3);
  if (scheme == "unix") return ParseUnix(url, rest);
  if (scheme != "tcp" && scheme != "tcp4" && scheme != "tcp6") {
    return Bad(url, "scheme must be tcp, tcp4, tcp6 or unix");
  }
  size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos) return Bad(url, "missing :port");
  absl::string_view host = rest.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return Bad(url, "bad port");
  }
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = scheme == "tcp6" ? "::1" : "127.0.0.1";
  Target t;
  t.text = std::string(url);
  t.is_tcp = true;
  std::string h(host);
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (scheme != "tcp6" && inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
    if ((ntohl(v4.sin_addr.s_addr) >> 24) != 127) {
      return Bad(url, "not a loopback address (only 127.0.0.0/8, ::1, unix://)");
    }
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&t.addr, &v4, sizeof v4);
    t.len = sizeof v4;
    return t;
  }
  if (scheme != "tcp4" && inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr)) {
      return Bad(url, "not a loopback address (only 127.0.0.0/8, ::1, unix://)");
    }
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&t.addr, &v6, sizeof v6);
    t.len = sizeof v6;
    return t;
  }
  return Bad(url, "host must be a numeric loopback address or localhost");
}

}  // namespace actnet::perf
