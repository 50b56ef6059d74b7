// CheckResp: redis::RespParser whole versus in pieces, round trips through
// the reply encoders, and well-formed errors.

#include "fuzz/resp_check.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace actnet::fuzz {
namespace {

using redis::RespParser;

// What one Parse call that did not ask for more bytes produced.
struct Outcome {
  bool error = false;
  std::vector<std::string> args;  // a request's arguments, or {error()}
  bool operator==(const Outcome&) const = default;
};

std::string Describe(const std::vector<Outcome>& outcomes) {
  std::string s;
  for (const Outcome& o : outcomes) {
    absl::StrAppend(&s, o.error ? "error(" : "request(");
    for (const std::string& a : o.args) {
      absl::StrAppend(&s, "\"", absl::CHexEscape(a.substr(0, 40)), "\" ");
    }
    absl::StrAppend(&s, ") ");
  }
  return s;
}

// The most bytes a client can have buffered for one incomplete request
// without the parser having refused it.
constexpr size_t kMaxWaiting =
    kRespTestLimits.max_inline +
    kRespTestLimits.max_args *
        (kRespTestLimits.max_inline + kRespTestLimits.max_bulk + 2);

// The same bytes, delivered in pieces of 1..max (max 0: all at once).
class Client {
 public:
  explicit Client(uint8_t max, uint8_t seed)
      : max_(max), state_(0x9E3779B9u ^ seed) {}

  // Feeds `stream` and returns "" or what went wrong; outcomes() then holds
  // what the parser produced, ending at its first error.
  std::string Run(absl::string_view stream) {
    std::string buffer;
    while (!stream.empty() && !failed_) {
      const size_t n = NextPiece(stream.size());
      buffer.append(stream.data(), n);
      stream.remove_prefix(n);
      std::string problem = Drain(&buffer);
      if (!problem.empty()) return problem;
    }
    return "";
  }

  const std::vector<Outcome>& outcomes() const { return outcomes_; }

 private:
  size_t NextPiece(size_t left) {
    if (max_ == 0) return left;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return std::min<size_t>(left, 1 + state_ % max_);
  }

  // Parses what `buffer` holds until the parser needs more or fails.
  std::string Drain(std::string* buffer) {
    size_t used = 0;
    while (true) {
      const absl::string_view in = absl::string_view(*buffer).substr(used);
      const RespParser::Result r = parser_.Parse(in);
      if (r == RespParser::Result::kNeedMore) {
        if (in.size() > kMaxWaiting) {
          return absl::StrCat("kNeedMore with ", in.size(),
                              " bytes waiting; the limits allow ",
                              kMaxWaiting);
        }
        if (parser_.wanted() != 0 && parser_.wanted() <= in.size()) {
          return absl::StrCat("wanted() ", parser_.wanted(), " but ",
                              in.size(), " bytes are there");
        }
        break;
      }
      if (r == RespParser::Result::kError) {
        outcomes_.push_back({true, {parser_.error()}});
        failed_ = true;
        break;
      }
      if (parser_.consumed() == 0 || parser_.consumed() > in.size()) {
        return absl::StrCat("consumed() ", parser_.consumed(), " of ",
                            in.size(), " bytes");
      }
      Outcome o;
      for (absl::string_view a : parser_.args()) o.args.emplace_back(a);
      outcomes_.push_back(std::move(o));
      used += parser_.consumed();
    }
    buffer->erase(0, used);
    return "";
  }

  const uint8_t max_;
  uint32_t state_;
  RespParser parser_{kRespTestLimits};
  std::vector<Outcome> outcomes_;
  bool failed_ = false;
};

std::string CheckRoundTrip(const std::vector<std::string>& args) {
  // max_args bounds multibulk requests only: an inline line of max_inline
  // bytes may hold more arguments, and its multibulk form is then refused.
  if (args.empty() || args.size() > kRespTestLimits.max_args) return "";
  std::string encoded;
  redis::AppendArray(&encoded, static_cast<int64_t>(args.size()));
  for (const std::string& a : args) redis::AppendBulk(&encoded, a);
  RespParser parser(kRespTestLimits);
  if (parser.Parse(encoded) != RespParser::Result::kCommand) {
    return absl::StrCat("re-encoded request \"",
                        absl::CHexEscape(encoded.substr(0, 200)),
                        "\" does not parse: ", parser.error());
  }
  if (parser.consumed() != encoded.size()) return "re-encoded: consumed()";
  if (parser.args().size() != args.size() ||
      !std::equal(args.begin(), args.end(), parser.args().begin())) {
    return "re-encoded request parses to other arguments";
  }
  return "";
}

std::string CheckError(const std::string& error) {
  std::string line;
  redis::AppendError(&line, error);
  if (!absl::StartsWith(line, "-ERR Protocol error: ")) {
    return absl::StrCat("error reply \"", absl::CHexEscape(line),
                        "\" is not a protocol error");
  }
  if (line.find_first_of("\r\n") != line.size() - 2) {
    return absl::StrCat("error reply \"", absl::CHexEscape(line),
                        "\" is not one line");
  }
  return "";
}

std::string Check(absl::string_view input) {
  const auto max = static_cast<uint8_t>(input.empty() ? 0 : input[0]);
  const auto seed = static_cast<uint8_t>(input.size() < 2 ? 0 : input[1]);
  const absl::string_view stream = input.substr(std::min<size_t>(input.size(), 2));

  Client whole(0, 0);
  std::string problem = whole.Run(stream);
  if (!problem.empty()) return absl::StrCat("whole: ", problem);
  Client pieces(max, seed);
  problem = pieces.Run(stream);
  if (!problem.empty()) return absl::StrCat("in pieces: ", problem);
  if (whole.outcomes() != pieces.outcomes()) {
    return absl::StrCat("whole gives ", Describe(whole.outcomes()),
                        "but in pieces ", Describe(pieces.outcomes()));
  }
  for (const Outcome& o : whole.outcomes()) {
    problem = o.error ? CheckError(o.args[0]) : CheckRoundTrip(o.args);
    if (!problem.empty()) return problem;
  }
  return "";
}

}  // namespace

absl::Status CheckResp(absl::string_view input) {
  const std::string problem = Check(input);
  if (problem.empty()) return absl::OkStatus();
  return absl::InternalError(problem);
}

}  // namespace actnet::fuzz
