// io::ProbeIoUring: its answer is stable, names what is missing when it is
// no, and when it is yes a ring really moves socket bytes.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/uring_probe.h"

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "doctest/doctest.h"

namespace actnet::io {
namespace {

TEST_CASE(
    "the probe answers the same every time; a no names io_uring and what "
    "failed") {
  const absl::Status first = ProbeIoUring();
  CHECK(ProbeIoUring() == first);
  if (!first.ok()) {
    MESSAGE("io_uring unavailable here: " << first.ToString());
    CHECK(absl::StartsWith(first.message(), "io_uring"));
    CHECK_FALSE(IoUringDeferTaskrun());
  }
}

TEST_CASE(
    "when the probe says yes, a ring receives from and sends on a socket "
    "pair") {
  if (!ProbeIoUring().ok()) return;  // the previous case reported why
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  io_uring ring;
  REQUIRE(io_uring_queue_init(8, &ring, 0) == 0);

  REQUIRE(write(fds[1], "ping", 4) == 4);
  char in[16] = {};
  io_uring_prep_recv(io_uring_get_sqe(&ring), fds[0], in, sizeof(in), 0);
  io_uring_prep_send(io_uring_get_sqe(&ring), fds[0], "pong", 4, 0);
  REQUIRE(io_uring_submit(&ring) == 2);
  for (int i = 0; i < 2; ++i) {
    io_uring_cqe* cqe = nullptr;
    REQUIRE(io_uring_wait_cqe(&ring, &cqe) == 0);
    CHECK(cqe->res == 4);  // 4 bytes received, or 4 bytes sent
    io_uring_cqe_seen(&ring, cqe);
  }
  CHECK(std::string(in, 4) == "ping");
  char out[4];
  REQUIRE(read(fds[1], out, 4) == 4);
  CHECK(std::string(out, 4) == "pong");

  io_uring_queue_exit(&ring);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace actnet::io
