#include "tests/examples/redis/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace actnet::redis::testing {
namespace {

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

Client::Client(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

bool Client::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool Client::Fill(long long deadline_ms) {
  if (eof_) return false;
  while (true) {
    const long long left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

std::string Client::ReadReplies(size_t n, int timeout_ms) {
  const long long deadline = NowMs() + timeout_ms;
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
  const long long deadline = NowMs() + timeout_ms;
  while (buf_.size() < size && Fill(deadline)) {
  }
  const size_t k = std::min(size, buf_.size());
  std::string out = buf_.substr(0, k);
  buf_.erase(0, k);
  return out;
}

void Client::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool Client::WaitClosed(std::string* rest, int timeout_ms) {
  const long long deadline = NowMs() + timeout_ms;
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
