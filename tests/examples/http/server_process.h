// Helpers for tests that drive an example binary as a real server: start it
// as a child process, learn its port from its "listening" line, talk to it
// over loopback sockets or through command-line clients (curl, wrk), and
// stop it with SIGTERM. Single-threaded use.
#ifndef ACTNET_TESTS_EXAMPLES_HTTP_SERVER_PROCESS_H_
#define ACTNET_TESTS_EXAMPLES_HTTP_SERVER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace actnet::testing {

using Clock = std::chrono::steady_clock;

// The path of a data dependency ("examples/http/http") in the runfiles.
std::string Runfile(absl::string_view path);

class ServerProcess {
 public:
  // Runs `binary` with `args` and waits up to `timeout` for a stdout line
  // containing "listening"; the port is the number after its last ':'.
  // Null if the process did not start or never said it was listening.
  static std::unique_ptr<ServerProcess> Start(
      const std::string& binary, const std::vector<std::string>& args,
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~ServerProcess();  // kills the process if it still runs

  int port() const { return port_; }
  const std::string& listening_line() const { return line_; }
  // Sends SIGTERM and waits up to `timeout`. Returns the exit code, 128 +
  // the signal if a signal ended it, or -1 if it had to be killed.
  int Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;  // kept open so late output never raises SIGPIPE
  int port_ = 0;
  std::string line_;
};

struct CommandResult {
  int status = -1;  // exit code, or -1 if it did not exit normally
  std::string output;  // stdout and stderr
};
// Runs `command` with /bin/sh, capturing its output.
CommandResult RunCommand(const std::string& command);

// A blocking TCP socket connected to 127.0.0.1:port, or -1. A positive
// `rcvbuf` fixes SO_RCVBUF before connecting (no autotuning).
int ConnectLoopback(int port, int rcvbuf = 0);
bool SendAll(int fd, absl::string_view data);
// Appends what arrives on `fd` to `*out` until `done(*out)` holds, EOF, an
// error, or `timeout`. Returns true if `done` held.
bool ReadUntil(int fd, std::string* out,
               const std::function<bool(absl::string_view)>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Reads until EOF or an error (reset) within `timeout`; true if it came.
bool ReadToEnd(int fd, std::string* out,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_EXAMPLES_HTTP_SERVER_PROCESS_H_
