#include "tests/examples/http/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace actnet::testing {
namespace {

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Reads once from fd into out, waiting until `deadline`. Returns bytes read,
// 0 on EOF, -1 on error or timeout (errno ETIMEDOUT).
ssize_t ReadSome(int fd, std::string* out, Clock::time_point deadline) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    char buf[64 * 1024];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) out->append(buf, static_cast<size_t>(n));
    return n;
  }
}

}  // namespace

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (f == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) result.output.append(buf, n);
  const int status = ::pclose(f);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

int ConnectLoopback(int port, int rcvbuf) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool ReadUntil(int fd, std::string* out,
               const std::function<bool(absl::string_view)>& done,
               std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!done(*out)) {
    if (ReadSome(fd, out, deadline) <= 0) return done(*out);
  }
  return true;
}

bool ReadToEnd(int fd, std::string* out, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const ssize_t n = ReadSome(fd, out, deadline);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

}  // namespace actnet::testing
