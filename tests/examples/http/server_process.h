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
#include "tests/testing/common.h"

namespace actnet::testing {

using Clock = std::chrono::steady_clock;
using testutil::Runfile;
// An example binary run as a child process (tests/testing/common.h).
using ServerProcess = testutil::ChildProcess;

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
