#include "examples/redis/resp.h"

#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace actnet::redis {
namespace {

// Strict decimal: optional '-', digits only, no overflow.
bool ParseInt64(absl::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  bool neg = s[0] == '-';
  size_t i = neg ? 1 : 0;
  if (i == s.size()) return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > uint64_t{1} << 63) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

}  // namespace

void RespParser::Reset() {
  pos_ = 0;
  expected_ = -1;
  bulk_len_ = -1;
  spans_.clear();
  wanted_ = 0;
}

RespParser::Result RespParser::Fail(std::string message) {
  error_ = absl::StrCat("ERR Protocol error: ", message);
  Reset();
  return Result::kError;
}

RespParser::Result RespParser::Parse(absl::string_view in) {
  args_.clear();
  consumed_ = 0;
  if (in.empty()) return Result::kNeedMore;
  if (wanted_ != 0 && in.size() < wanted_) return Result::kNeedMore;
  wanted_ = 0;
  return in[0] == '*' ? ParseMultibulk(in) : ParseInline(in);
}

bool RespParser::ReadLength(absl::string_view in, char prefix, int64_t* value,
                            bool* ok) {
  *ok = true;
  // Fast path, nearly every length: -?[0-9]{1,18} then CRLF, all buffered.
  // It accepts a subset of what the general path does, with the same value.
  {
    size_t i = pos_ + 1;
    const bool neg = i < in.size() && in[i] == '-';
    if (neg) ++i;
    const size_t first = i;
    int64_t v = 0;
    while (i < in.size() && i - first < 18 && in[i] >= '0' && in[i] <= '9') {
      v = v * 10 + (in[i] - '0');
      ++i;
    }
    if (i > first && i + 1 < in.size() && in[i] == '\r' && in[i + 1] == '\n' &&
        i - pos_ <= limits_.max_inline) {
      *value = neg ? -v : v;
      pos_ = i + 2;
      return true;
    }
  }
  const size_t limit = std::min(in.size(), pos_ + limits_.max_inline);
  const void* cr = std::memchr(in.data() + pos_, '\r', limit - pos_);
  if (cr == nullptr || static_cast<const char*>(cr) + 1 >= in.data() + in.size()) {
    if (in.size() - pos_ > limits_.max_inline) {
      *ok = false;
      Fail(prefix == '*' ? "too big mbulk count string"
                         : "too big bulk count string");
      return true;
    }
    return false;
  }
  const size_t end = static_cast<size_t>(static_cast<const char*>(cr) - in.data());
  if (in[end + 1] != '\n' ||
      !ParseInt64(in.substr(pos_ + 1, end - pos_ - 1), value)) {
    *ok = false;
    Fail(prefix == '*' ? "invalid multibulk length" : "invalid bulk length");
    return true;
  }
  pos_ = end + 2;
  return true;
}

RespParser::Result RespParser::ParseMultibulk(absl::string_view in) {
  bool ok;
  if (expected_ < 0) {
    int64_t n;
    if (!ReadLength(in, '*', &n, &ok)) return Result::kNeedMore;
    if (!ok) return Result::kError;
    if (n > static_cast<int64_t>(limits_.max_args)) {
      return Fail("invalid multibulk length");
    }
    if (n <= 0) {  // "*0" and "*-1" are empty requests
      consumed_ = pos_;
      Reset();
      return Result::kCommand;
    }
    expected_ = n;
    // Reserve by what is present, not by what is announced.
    spans_.reserve(std::min<size_t>(static_cast<size_t>(n), 64));
  }
  while (static_cast<int64_t>(spans_.size()) < expected_) {
    if (bulk_len_ < 0) {
      if (pos_ >= in.size()) return Result::kNeedMore;
      if (in[pos_] != '$') {
        return Fail(absl::StrCat("expected '$', got '",
                                 absl::string_view(&in[pos_], 1), "'"));
      }
      int64_t n;
      if (!ReadLength(in, '$', &n, &ok)) return Result::kNeedMore;
      if (!ok) return Result::kError;
      if (n < 0 || static_cast<uint64_t>(n) > limits_.max_bulk) {
        return Fail("invalid bulk length");
      }
      bulk_len_ = n;
    }
    const size_t need = pos_ + static_cast<size_t>(bulk_len_) + 2;
    if (in.size() < need) {
      wanted_ = need;
      return Result::kNeedMore;
    }
    if (in[need - 2] != '\r' || in[need - 1] != '\n') {
      return Fail("expected CRLF after bulk string");
    }
    spans_.emplace_back(pos_, static_cast<size_t>(bulk_len_));
    pos_ = need;
    bulk_len_ = -1;
  }
  for (const auto& [off, len] : spans_) args_.push_back(in.substr(off, len));
  consumed_ = pos_;
  Reset();
  return Result::kCommand;
}

RespParser::Result RespParser::ParseInline(absl::string_view in) {
  const size_t limit = std::min(in.size(), limits_.max_inline);
  const void* nl = std::memchr(in.data(), '\n', limit);
  if (nl == nullptr) {
    if (in.size() >= limits_.max_inline) return Fail("too big inline request");
    return Result::kNeedMore;
  }
  const size_t end = static_cast<size_t>(static_cast<const char*>(nl) - in.data());
  absl::string_view line = in.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  inline_storage_.clear();
  spans_.clear();
  if (!SplitInline(line, &inline_storage_, &spans_)) {
    return Fail("unbalanced quotes in request");
  }
  for (const auto& [off, len] : spans_) {
    args_.push_back(absl::string_view(inline_storage_).substr(off, len));
  }
  consumed_ = end + 1;
  Reset();
  return Result::kCommand;
}

bool SplitInline(absl::string_view line, std::string* storage,
                 std::vector<std::pair<size_t, size_t>>* spans) {
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    while (i < n && IsSpace(line[i])) ++i;
    if (i == n) return true;
    const size_t start = storage->size();
    bool in_double = false, in_single = false, done = false;
    while (!done) {
      if (in_double) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' &&
            HexValue(line[i + 2]) >= 0 && HexValue(line[i + 3]) >= 0) {
          storage->push_back(
              static_cast<char>(HexValue(line[i + 2]) * 16 + HexValue(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < n) {
          char e = line[i + 1];
          switch (e) {
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'b': e = '\b'; break;
            case 'a': e = '\a'; break;
            default: break;
          }
          storage->push_back(e);
          i += 2;
        } else if (c == '"') {
          // A closing quote must be followed by a space or the end.
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          done = true;
          ++i;
        } else {
          storage->push_back(c);
          ++i;
        }
      } else if (in_single) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          storage->push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          done = true;
          ++i;
        } else {
          storage->push_back(c);
          ++i;
        }
      } else if (i == n || IsSpace(line[i])) {
        done = true;
      } else if (line[i] == '"') {
        in_double = true;
        ++i;
      } else if (line[i] == '\'') {
        in_single = true;
        ++i;
      } else {
        storage->push_back(line[i]);
        ++i;
      }
    }
    spans->emplace_back(start, storage->size() - start);
  }
}

namespace {

// "<type><n>\r\n" in one append (absl::StrAppend would first grow the
// string zero-filled, then overwrite it).
void AppendHeader(std::string* out, char type, int64_t n) {
  char buf[24];
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(buf, static_cast<size_t>(end - buf));
}

}  // namespace

void AppendSimple(std::string* out, absl::string_view s) {
  out->push_back('+');
  out->append(s.data(), s.size());
  out->append("\r\n", 2);
}
void AppendError(std::string* out, absl::string_view s) {
  // An error reply is one line: CR or LF inside the text (e.g. an echoed
  // unexpected byte) would break the framing, so they become spaces, as
  // Redis does.
  out->push_back('-');
  for (char c : s) out->push_back(c == '\r' || c == '\n' ? ' ' : c);
  out->append("\r\n", 2);
}
void AppendInt(std::string* out, int64_t v) { AppendHeader(out, ':', v); }
void AppendBulk(std::string* out, absl::string_view s) {
  AppendHeader(out, '$', static_cast<int64_t>(s.size()));
  out->append(s.data(), s.size());
  out->append("\r\n", 2);
}
void AppendNil(std::string* out) { out->append("$-1\r\n", 5); }
void AppendNilArray(std::string* out) { out->append("*-1\r\n", 5); }
void AppendArray(std::string* out, int64_t n) { AppendHeader(out, '*', n); }

}  // namespace actnet::redis
