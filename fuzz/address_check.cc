// CheckAddress: URL round trip and raw sockaddr formatting.

#include "fuzz/address_check.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "io/address.h"

namespace actnet::fuzz {
namespace {

absl::Status Fail(absl::string_view input, absl::string_view what) {
  return absl::InternalError(absl::StrCat(
      "input \"", absl::CHexEscape(input), "\": ", what));
}

absl::Status CheckUrl(absl::string_view input) {
  absl::StatusOr<io::Address> a = io::ParseAddress(input);
  if (!a.ok()) {
    if (a.status().code() != absl::StatusCode::kInvalidArgument) {
      return Fail(input, absl::StrCat("error is not InvalidArgument: ",
                                      a.status().ToString()));
    }
    return absl::OkStatus();
  }
  // ParseAddress promises an address that resolves.
  absl::StatusOr<io::SocketAddress> resolved = a->Resolve();
  if (!resolved.ok()) {
    return Fail(input, absl::StrCat("parsed but does not resolve: ",
                                    resolved.status().ToString()));
  }
  if (a->network != io::Network::kUnix && resolved->port() != a->port) {
    return Fail(input, absl::StrCat("resolved port ", resolved->port(),
                                    " != parsed port ", a->port));
  }
  (void)resolved->ToString();

  const std::string text = a->ToString();
  absl::StatusOr<io::Address> again = io::ParseAddress(text);
  if (!again.ok()) {
    return Fail(input, absl::StrCat("ToString() \"", absl::CHexEscape(text),
                                    "\" does not parse: ",
                                    again.status().ToString()));
  }
  if (!(*again == *a)) {
    return Fail(input, absl::StrCat("ToString() \"", absl::CHexEscape(text),
                                    "\" parses to a different address \"",
                                    absl::CHexEscape(again->ToString()),
                                    "\""));
  }
  if (again->ToString() != text) {
    return Fail(input, absl::StrCat("ToString() is not stable: \"",
                                    absl::CHexEscape(text), "\" then \"",
                                    absl::CHexEscape(again->ToString()),
                                    "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckRaw(absl::string_view input) {
  // The kernel hands out aligned sockaddrs; so does this copy. FromRaw
  // still sees the input's full length and must truncate it itself.
  sockaddr_storage copy;
  std::memset(&copy, 0, sizeof(copy));
  const size_t n = std::min(input.size(), sizeof(copy));
  std::memcpy(&copy, input.data(), n);
  const auto* sa = reinterpret_cast<const sockaddr*>(&copy);
  const io::SocketAddress raw =
      io::SocketAddress::FromRaw(sa, static_cast<socklen_t>(input.size()));
  if (raw.size() != n) {
    return Fail(input, absl::StrCat("FromRaw kept ", raw.size(),
                                    " bytes, want ", n));
  }
  if (raw.empty() != (n == 0)) return Fail(input, "empty() is wrong");
  if (n < sizeof(sa_family_t) && raw.family() != AF_UNSPEC) {
    return Fail(input, "a short address has a family");
  }
  const int family = raw.family();
  if (family != AF_INET && family != AF_INET6 && raw.port() != 0) {
    return Fail(input, "a port outside AF_INET/AF_INET6");
  }
  const std::string text = raw.ToString();
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX &&
      !text.empty()) {
    return Fail(input, "ToString() of an unknown family is not empty");
  }
  if (text.size() > sizeof(sockaddr_storage) + 16) {
    return Fail(input, "ToString() is longer than the storage");
  }
  if (!(raw == raw)) return Fail(input, "operator== is not reflexive");
  const io::SocketAddress copy_of_raw = raw;
  if (!(copy_of_raw == raw)) return Fail(input, "a copy is not equal");
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckAddress(absl::string_view input) {
  absl::Status s = CheckUrl(input);
  if (!s.ok()) return s;
  return CheckRaw(input);
}

}  // namespace actnet::fuzz
