// Helpers for tests that drive an example binary as a real server: start it
// as a child process, learn its port from its "listening" line, talk to it
// over loopback sockets (testutil::Client, tests/testing/client.h) or
// through command-line clients (curl, wrk), and stop it with SIGTERM.
// Single-threaded use.
#ifndef ACTNET_TESTS_EXAMPLES_HTTP_SERVER_PROCESS_H_
#define ACTNET_TESTS_EXAMPLES_HTTP_SERVER_PROCESS_H_

#include <chrono>
#include <string>

#include "tests/testing/client.h"
#include "tests/testing/common.h"
#include "tests/testing/test_scale.h"

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

// Reads until the server ends the connection, by EOF or a reset (a server
// that closes with unread input resets), within `timeout`; true if it did.
bool ReadToEnd(testutil::Client& client, std::string* out, Clock::duration timeout);

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_EXAMPLES_HTTP_SERVER_PROCESS_H_
