#include "tests/examples/redis/client.h"

#include <cerrno>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace actnet::redis::testing {
namespace {

using testutil::Clock;

Clock::time_point InMs(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

// Length of the reply at `pos`, 0 if incomplete.
size_t ReplyAt(absl::string_view buf, size_t pos) {
  if (pos >= buf.size()) return 0;
  const size_t eol = buf.find("\r\n", pos);
  if (eol == absl::string_view::npos) return 0;
  const size_t line = eol + 2 - pos;
  const char type = buf[pos];
  if (type == '+' || type == '-' || type == ':') return line;
  int64_t n = 0;
  if (!absl::SimpleAtoi(buf.substr(pos + 1, eol - pos - 1), &n)) return 0;
  if (type == '$') {
    if (n < 0) return line;
    const size_t total = line + static_cast<size_t>(n) + 2;
    return pos + total <= buf.size() ? total : 0;
  }
  if (type == '*') {
    size_t total = line;
    for (int64_t i = 0; i < n; ++i) {
      const size_t e = ReplyAt(buf, pos + total);
      if (e == 0) return 0;
      total += e;
    }
    return total;
  }
  return 0;
}

}  // namespace

std::string Cmd(std::initializer_list<absl::string_view> args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (absl::string_view a : args) absl::StrAppend(&out, "$", a.size(), "\r\n", a, "\r\n");
  return out;
}

std::string Cmd(const std::vector<std::string>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (const std::string& a : args) absl::StrAppend(&out, "$", a.size(), "\r\n", a, "\r\n");
  return out;
}

size_t ReplyLength(absl::string_view buf) { return ReplyAt(buf, 0); }

Client::Client(int port) : sock_(testutil::Client::Connect(port, InMs(20000))) {}

bool Client::Send(absl::string_view bytes) {
  return sock_.SendAll(std::string_view(bytes.data(), bytes.size()), InMs(20000));
}

bool Client::Fill(Clock::time_point deadline) {
  if (eof_) return false;
  const ssize_t n = sock_.RecvSome(64 * 1024, &buf_, deadline);
  // A deadline leaves the stream open for a later read; EOF and errors end it.
  if (n <= 0 && !(n < 0 && sock_.last_error() == ETIMEDOUT)) eof_ = true;
  return n > 0;
}

std::string Client::ReadReplies(size_t n, int timeout_ms) {
  const Clock::time_point deadline = InMs(timeout_ms);
  size_t used = 0;
  for (size_t i = 0; i < n;) {
    const size_t len = ReplyAt(buf_, used);
    if (len != 0) {
      used += len;
      ++i;
      continue;
    }
    if (!Fill(deadline)) break;
  }
  std::string out = buf_.substr(0, used);
  buf_.erase(0, used);
  return out;
}

std::string Client::ReadBytes(size_t size, int timeout_ms) {
  const Clock::time_point deadline = InMs(timeout_ms);
  while (buf_.size() < size && Fill(deadline)) {
  }
  const size_t k = std::min(size, buf_.size());
  std::string out = buf_.substr(0, k);
  buf_.erase(0, k);
  return out;
}

void Client::ShutdownWrite() { sock_.ShutdownWrite(); }

bool Client::WaitClosed(std::string* rest, int timeout_ms) {
  const Clock::time_point deadline = InMs(timeout_ms);
  while (Fill(deadline)) {
  }
  rest->append(buf_);
  buf_.clear();
  return eof_;
}

std::string Client::Call(std::initializer_list<absl::string_view> args) {
  if (!Send(Cmd(args))) return "";
  return ReadReply();
}

}  // namespace actnet::redis::testing
