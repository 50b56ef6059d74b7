#include "tests/transport/transport_testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include "io/address.h"

extern char** environ;

namespace actnet::transport {
namespace {

int RemainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;
}

bool WaitFor(const std::function<bool()>& done, Clock::duration timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return done();
    std::this_thread::sleep_for(milliseconds(1));
  }
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/actnet-tr-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (DIR* dir = ::opendir(path_.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      if (std::strcmp(entry->d_name, ".") == 0 ||
          std::strcmp(entry->d_name, "..") == 0) {
        continue;
      }
      ::unlink((path_ + "/" + entry->d_name).c_str());
    }
    ::closedir(dir);
  }
  ::rmdir(path_.c_str());
}

std::string TempDir::File(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    Reset();
    fd_ = o.release();
  }
  return *this;
}

void Fd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Fd ConnectUrl(const std::string& url, std::string* error,
              Clock::duration timeout) {
  auto fail = [error](std::string why) {
    if (error != nullptr) *error = std::move(why);
    return Fd();
  };
  absl::StatusOr<io::Address> address = io::ParseAddress(url);
  if (!address.ok()) return fail(address.status().ToString());
  absl::StatusOr<io::SocketAddress> remote = address->Resolve();
  if (!remote.ok()) return fail(remote.status().ToString());
  const bool stream = io::IsStream(address->network);
  Fd fd(::socket(remote->family(),
                 (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0));
  if (!fd.valid()) return fail(std::strerror(errno));
  if (::connect(fd.get(), remote->data(), remote->size()) != 0) {
    if (errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
    if (!WaitReady(fd.get(), POLLOUT, Clock::now() + timeout)) {
      return fail("connect: timed out");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  }
  return fd;
}

bool WaitReady(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

bool SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitReady(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool RecvExactly(int fd, size_t n, std::string* out, Clock::time_point deadline) {
  char buf[64 * 1024];
  while (n > 0) {
    const ssize_t r = ::recv(fd, buf, std::min(n, sizeof(buf)), 0);
    if (r > 0) {
      out->append(buf, static_cast<size_t>(r));
      n -= static_cast<size_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitReady(fd, POLLIN, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool RoundTrip(int fd, std::string_view data, Clock::time_point deadline) {
  std::string back;
  return SendAll(fd, data, deadline) &&
         RecvExactly(fd, data.size(), &back, deadline) && back == data;
}

std::string RecvDatagram(int fd, Clock::time_point deadline, bool* ok) {
  std::string buf(64 * 1024, '\0');
  for (;;) {
    const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
    if (r >= 0) {
      buf.resize(static_cast<size_t>(r));
      *ok = true;
      return buf;
    }
    if ((errno != EAGAIN && errno != EINTR) || !WaitReady(fd, POLLIN, deadline)) {
      *ok = false;
      return "";
    }
  }
}

std::unique_ptr<ChildProcess> ChildProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    Clock::duration timeout) {
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
  std::unique_ptr<ChildProcess> p(new ChildProcess());
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
      if (colon != std::string::npos) p->port_ = std::atoi(line.c_str() + colon + 1);
      p->line_ = line;
      return p;
    }
    if (!WaitReady(p->stdout_fd_, POLLIN, deadline)) return nullptr;
    char buf[4096];
    const ssize_t n = ::read(p->stdout_fd_, buf, sizeof(buf));
    if (n <= 0) return nullptr;
    out.append(buf, static_cast<size_t>(n));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

int64_t ChildProcess::RssKib() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      int64_t kib = -1;
      status >> kib;
      return kib;
    }
    std::getline(status, key);
  }
  return -1;
}

int ChildProcess::Terminate(Clock::duration timeout) {
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
    std::this_thread::sleep_for(milliseconds(5));  // polling a child's exit
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

std::string Runfile(std::string_view path) {
  const char* dir = std::getenv("TEST_SRCDIR");
  return std::string(dir != nullptr ? dir : ".") + "/actnet/" + std::string(path);
}

}  // namespace actnet::transport
