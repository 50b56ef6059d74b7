// Test helpers shared by every test package: process measurements (open
// fds, RSS, CPU time), polling with a deadline, random payloads, private
// temporary directories, runfiles, and example binaries run as child
// processes. Client sockets are in client.h, the sanitizer scale in
// test_scale.h.
#ifndef ACTNET_TESTS_TESTING_COMMON_H_
#define ACTNET_TESTS_TESTING_COMMON_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace actnet::testutil {

using Clock = std::chrono::steady_clock;

// ---- This process ----
// Entries in /proc/self/fd, not counting the one used to read it (-1 if the
// directory cannot be opened, e.g. with no fd to spare).
int CountOpenFds();
// Waits up to two seconds for the fd count to fall back to `before` (closes
// made by other threads may still be landing), then CHECKs it is equal.
void CheckNoFdLeak(int before);
// VmRSS in KiB of process `pid` (0 = this one), or -1 if unreadable.
int64_t RssKib(pid_t pid = 0);
// CPU time (user + system) this process has consumed, in seconds.
double ProcessCpuSeconds();

// Polls `done` every millisecond until it holds or `timeout` passes; returns
// its last value. Only a failing test waits out the timeout.
bool WaitFor(const std::function<bool()>& done,
             Clock::duration timeout = std::chrono::seconds(10));

// `n` pseudo-random bytes.
std::string RandomBytes(std::mt19937_64& rng, size_t n);

// A private directory under /tmp (short enough for sun_path), removed with
// its files on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // <dir>/<name>
  std::string File(std::string_view name) const;
  // unix://<dir>/<name>
  std::string UnixUrl(std::string_view name) const { return "unix://" + File(name); }

 private:
  std::string path_;
};

// The path of a data dependency ("examples/echo/echo") in the runfiles.
std::string Runfile(std::string_view path);

// An example binary run as a child process. Start waits for a stdout line
// containing "listening" (the port, if any, is the number after its last
// ':'); stdout stays open so late output never raises SIGPIPE.
class ChildProcess {
 public:
  // Null if the process did not start or never said it was listening.
  static std::unique_ptr<ChildProcess> Start(
      const std::string& binary, const std::vector<std::string>& args,
      Clock::duration timeout = std::chrono::seconds(60));
  ~ChildProcess();  // SIGKILLs the process if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& listening_line() const { return line_; }
  int64_t RssKib() const { return testutil::RssKib(pid_); }
  // Sends `sig` and waits up to `timeout` for the exit; the exit code, 128 +
  // the signal if a signal ended it, or -1 if it had to be killed.
  int Terminate(Clock::duration timeout = std::chrono::seconds(60),
                int sig = SIGTERM);

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string line_;
};

}  // namespace actnet::testutil

#endif  // ACTNET_TESTS_TESTING_COMMON_H_
