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

std::string Runfile(absl::string_view path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  return std::string(dir != nullptr ? dir : ".") + "/actnet/" + std::string(path);
}

std::unique_ptr<ServerProcess> ServerProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    std::chrono::milliseconds timeout) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return nullptr;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  const int rc = ::posix_spawn(&p->pid_, binary.c_str(), &actions, nullptr,
                               argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  p->stdout_fd_ = pipe_fds[0];
  if (rc != 0) {
    p->pid_ = -1;
    return nullptr;
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string out;
  for (;;) {
    const size_t eol = out.find('\n');
    if (eol != std::string::npos) {
      std::string line = out.substr(0, eol);
      out.erase(0, eol + 1);
      if (line.find("listening") == std::string::npos) continue;
      const size_t colon = line.rfind(':');
      if (colon == std::string::npos) return nullptr;
      p->port_ = std::atoi(line.c_str() + colon + 1);
      p->line_ = line;
      return p->port_ > 0 ? std::move(p) : nullptr;
    }
    if (ReadSome(p->stdout_fd_, &out, deadline) <= 0) return nullptr;
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

int ServerProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const Clock::time_point deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a child
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

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
