#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/unique_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "doctest/doctest.h"
#include "tests/testing/common.h"

namespace actnet::io {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
bool IsClosed(int fd) { return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

int NewFd() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

TEST_SUITE("UniqueFd") {
  TEST_CASE("a default UniqueFd owns nothing") {
    UniqueFd fd;
    CHECK(fd.Get() == -1);
    CHECK_FALSE(fd.IsValid());
    CHECK_FALSE(static_cast<bool>(fd));
  }

  TEST_CASE("the descriptor is closed when the owner is destroyed") {
    int raw = NewFd();
    {
      UniqueFd fd(raw);
      CHECK(fd.IsValid());
      CHECK(static_cast<bool>(fd));
      CHECK(fd.Get() == raw);
      CHECK(IsOpen(raw));
    }
    CHECK(IsClosed(raw));
  }

  TEST_CASE("Reset closes the old descriptor and adopts the new one") {
    int a = NewFd();
    int b = NewFd();
    UniqueFd fd(a);
    fd.Reset(b);
    CHECK(IsClosed(a));
    CHECK(fd.Get() == b);
    fd.Reset();
    CHECK(IsClosed(b));
    CHECK_FALSE(fd.IsValid());
  }

  TEST_CASE("resetting to the descriptor already owned keeps it open") {
    int a = NewFd();
    UniqueFd fd(a);
    fd.Reset(a);
    CHECK(IsOpen(a));
  }

  TEST_CASE("moving transfers ownership without closing") {
    int a = NewFd();
    UniqueFd first(a);
    UniqueFd second(std::move(first));
    CHECK(first.Get() == -1);  // NOLINT(bugprone-use-after-move)
    CHECK(second.Get() == a);
    CHECK(IsOpen(a));
  }

  TEST_CASE("move-assignment closes the target's old descriptor") {
    int a = NewFd();
    int b = NewFd();
    UniqueFd target(a);
    UniqueFd source(b);
    target = std::move(source);
    CHECK(IsClosed(a));
    CHECK(target.Get() == b);
    CHECK(IsOpen(b));
    CHECK_FALSE(source.IsValid());  // NOLINT(bugprone-use-after-move)
  }

  TEST_CASE("self move-assignment keeps the descriptor") {
    int a = NewFd();
    UniqueFd fd(a);
    UniqueFd& alias = fd;
    fd = std::move(alias);
    CHECK(fd.Get() == a);
    CHECK(IsOpen(a));
  }

  TEST_CASE("Release gives up ownership without closing") {
    int a = NewFd();
    int released;
    {
      UniqueFd fd(a);
      released = fd.Release();
      CHECK_FALSE(fd.IsValid());
    }
    CHECK(released == a);
    CHECK(IsOpen(a));
    ::close(a);
  }
}

TEST_SUITE("ErrnoStatus") {
  TEST_CASE("the message names the operation and the system error") {
    absl::Status s = ErrnoStatus(EADDRINUSE, "bind 127.0.0.1:9000");
    CHECK(s.message() == "bind 127.0.0.1:9000: Address already in use");
  }

  TEST_CASE("errno values map to matching status codes") {
    struct Case {
      int err;
      absl::StatusCode code;
    };
    const Case cases[] = {
        {EINVAL, absl::StatusCode::kInvalidArgument},
        {ENOENT, absl::StatusCode::kNotFound},
        {EACCES, absl::StatusCode::kPermissionDenied},
        {EPERM, absl::StatusCode::kPermissionDenied},
        {EADDRINUSE, absl::StatusCode::kFailedPrecondition},
        {ECONNREFUSED, absl::StatusCode::kUnavailable},
        {ETIMEDOUT, absl::StatusCode::kDeadlineExceeded},
        {EMFILE, absl::StatusCode::kResourceExhausted},
        {ENFILE, absl::StatusCode::kResourceExhausted},
        {ENOBUFS, absl::StatusCode::kResourceExhausted},
        {ENOMEM, absl::StatusCode::kResourceExhausted},
    };
    for (const Case& c : cases) {
      CAPTURE(c.err);
      CHECK(ErrnoStatus(c.err, "op").code() == c.code);
    }
  }

  TEST_CASE("errno 0 still gives an error, never OK") {
    absl::Status s = ErrnoStatus(0, "op");
    CHECK_FALSE(s.ok());
    CHECK(s.code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io
