// Helpers for the transport tests (UDP, unix sockets, the client, the
// proxy): a loopback TCP socket bound for tests that play the server
// themselves. Client sockets addressed by actnet URLs and the fd-level
// send/receive calls (tests/testing/client.h), a private /tmp directory for
// unix sockets (Bazel's TEST_TMPDIR can exceed sun_path), the open-fd count
// for leak checks, example binaries as child processes (common.h) and the
// sanitizer scale (test_scale.h) come from tests/testing.
//
// Every blocking call takes a deadline and fails instead of hanging, so a
// server bug is a failed CHECK, not a Bazel timeout.
#ifndef ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_
#define ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_

#include <chrono>

#include "io/unique_fd.h"
#include "tests/testing/client.h"
#include "tests/testing/common.h"
#include "tests/testing/test_scale.h"

namespace actnet::transport {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kSanitized;
using testing::Scaled;
using testing::Slack;
using testutil::ChildProcess;
using testutil::Client;
using testutil::CountOpenFds;
using testutil::RandomBytes;
using testutil::RecvDatagram;
using testutil::RecvExactly;
using testutil::Runfile;
using testutil::SendAll;
using testutil::TempDir;
using testutil::WaitFor;
using testutil::WaitReady;

// A blocking TCP socket bound to 127.0.0.1 on a port the kernel picks,
// listening with `backlog` if it is positive (else only bound: connects
// to it are refused). Invalid on failure; *port is the port.
io::UniqueFd BindLoopback(int backlog, int* port);

}  // namespace actnet::transport

#endif  // ACTNET_TESTS_TRANSPORT_TRANSPORT_TESTING_H_
