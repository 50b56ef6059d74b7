// CheckHttp: http::Session fed hostile bytes in fuzzer-chosen pieces.

#include "fuzz/http_check.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "examples/http/http_server.h"

namespace actnet::fuzz {
namespace {

// Longest head (status line and headers) the example ever writes.
constexpr size_t kMaxHead = 512;

absl::string_view ReasonFor(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

struct Response {
  int status = 0;
  bool close = false;
};

// Takes one response off the front of `out`; returns "" or the problem.
std::string TakeResponse(absl::string_view* out, Response* r) {
  if (!absl::StartsWith(*out, "HTTP/1.1 ")) {
    return "a response does not start with \"HTTP/1.1 \"";
  }
  const size_t end = out->find("\r\n\r\n");
  if (end == absl::string_view::npos) return "a head without a blank line";
  if (end + 4 > kMaxHead) return "a head longer than 512 bytes";
  std::vector<absl::string_view> lines =
      absl::StrSplit(out->substr(0, end), "\r\n");
  const absl::string_view status_line = lines[0];
  if (status_line.size() < 13 || status_line[12] != ' ' ||
      !absl::SimpleAtoi(status_line.substr(9, 3), &r->status)) {
    return absl::StrCat("bad status line \"", absl::CHexEscape(status_line),
                        "\"");
  }
  const absl::string_view reason = ReasonFor(r->status);
  if (reason.empty() || status_line.substr(13) != reason) {
    return absl::StrCat("unknown status or reason in \"",
                        absl::CHexEscape(status_line), "\"");
  }
  int lengths = 0;
  uint64_t length = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    const size_t colon = line.find(": ");
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::StrCat("bad header \"", absl::CHexEscape(line), "\"");
    }
    const absl::string_view name = line.substr(0, colon);
    const absl::string_view value = line.substr(colon + 2);
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      ++lengths;
      if (!absl::SimpleAtoi(value, &length)) return "bad Content-Length";
    } else if (absl::EqualsIgnoreCase(name, "Connection")) {
      r->close = absl::EqualsIgnoreCase(value, "close");
    }
  }
  if (lengths != 1) return absl::StrCat(lengths, " Content-Length headers");
  if (length > kHttpMaxBody) return "a body over the session's limit";
  if (out->size() - end - 4 < length) return "a truncated body";
  out->remove_prefix(end + 4 + length);
  return "";
}

// The piece sizes: xorshift32, each piece 1..max bytes.
class Pieces {
 public:
  Pieces(uint8_t max, uint8_t seed) : max_(max), state_(0x9E3779B9u ^ seed) {}
  size_t Next(size_t left) {
    if (max_ == 0) return left;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return std::min<size_t>(left, 1 + state_ % max_);
  }

 private:
  const uint8_t max_;
  uint32_t state_;
};

std::string Check(absl::string_view input, std::string* out) {
  const auto max = static_cast<uint8_t>(input.empty() ? 0 : input[0]);
  const auto seed = static_cast<uint8_t>(input.size() < 2 ? 0 : input[1]);
  absl::string_view bytes = input.substr(std::min<size_t>(input.size(), 2));
  const size_t input_size = bytes.size();

  http::DateCache dates(absl::FromUnixSeconds(784111777));
  http::Session session(kHttpMaxBody, &dates);
  Pieces pieces(max, seed);
  bool open = true;
  // An empty Feed too must be harmless, before and after a close.
  do {
    const absl::string_view piece = bytes.substr(0, pieces.Next(bytes.size()));
    bytes.remove_prefix(piece.size());
    const size_t before = out->size();
    const bool still_open = session.Feed(
        piece, [out](absl::string_view s) { out->append(s.data(), s.size()); });
    if (!open && (still_open || out->size() != before)) {
      return "a closed session answered again";
    }
    open = still_open;
  } while (!bytes.empty());
  if (!open && session.Feed("GET / HTTP/1.1\r\n\r\n",
                            [out](absl::string_view s) { out->append(s.data(), s.size()); })) {
    return "a closed session reopened";
  }

  absl::string_view rest = *out;
  Response last;
  size_t count = 0;
  while (!rest.empty()) {
    if (last.close) return "a response after \"Connection: close\"";
    std::string problem = TakeResponse(&rest, &last);
    if (!problem.empty()) {
      return absl::StrCat("response ", count, ": ", problem);
    }
    ++count;
  }
  if (count > input_size / 16 + 1) {
    return absl::StrCat(count, " responses to ", input_size, " bytes");
  }
  if (!open && count == 0) return "closed without a response";
  if (!open && !last.close) return "closed without \"Connection: close\"";
  return "";
}

}  // namespace

absl::Status CheckHttp(absl::string_view input) {
  std::string out;
  const std::string problem = Check(input, &out);
  if (problem.empty()) return absl::OkStatus();
  constexpr size_t kShown = 2048;
  return absl::InternalError(absl::StrCat(
      problem, "; output was \"", absl::CHexEscape(out.substr(0, kShown)),
      out.size() > kShown ? "\"..." : "\""));
}

}  // namespace actnet::fuzz
