#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/epoll_poller.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>

#include "absl/strings/match.h"
#include "doctest/doctest.h"
#include "io/unique_fd.h"
#include "tests/testing/common.h"

namespace actnet::io {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();
constexpr int kLongMs = 10000;  // a failure guard, never a delay

struct Pair {
  UniqueFd a;
  UniqueFd b;
};

Pair MakePair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                       fds) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::unique_ptr<EpollPoller> MakePoller() {
  absl::StatusOr<std::unique_ptr<EpollPoller>> p = EpollPoller::Create();
  REQUIRE(p.ok());
  return std::move(*p);
}

void Send(const UniqueFd& fd, absl::string_view bytes) {
  REQUIRE(::write(fd.Get(), bytes.data(), bytes.size()) ==
          static_cast<ssize_t>(bytes.size()));
}

TEST_SUITE("EpollPoller") {
  TEST_CASE("the epoll fd is close-on-exec") {
    auto poller = MakePoller();
    CHECK((::fcntl(poller->fd(), F_GETFD) & FD_CLOEXEC) != 0);
  }

  TEST_CASE("an idle fd times out with no events") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadable, 1).ok());
    std::array<PollEvent, 4> events;
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
    CHECK(poller->Wait(absl::MakeSpan(events), 10) == 0);
  }

  TEST_CASE("a Wait with no room for events returns 0") {
    auto poller = MakePoller();
    CHECK(poller->Wait(absl::Span<PollEvent>(), 0) == 0);
  }

  TEST_CASE("data makes an fd readable and the token comes back") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadable, 0xfeedface12345678ull).ok());
    Send(p.b, "x");
    std::array<PollEvent, 4> events;
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].token == 0xfeedface12345678ull);
    CHECK(events[0].events == kReadable);
    // Level-triggered: still readable until the byte is read.
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 1);
  }

  TEST_CASE("a connected socket reports writable") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kWritable, 7).ok());
    std::array<PollEvent, 4> events;
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].token == 7);
    CHECK(events[0].events == kWritable);
  }

  TEST_CASE("Modify changes the interest and the token") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadable, 1).ok());
    std::array<PollEvent, 4> events;
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
    REQUIRE(poller->Modify(p.a.Get(), kReadable | kWritable, 2).ok());
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].token == 2);
    CHECK(events[0].events == kWritable);
    REQUIRE(poller->Modify(p.a.Get(), kReadable, 3).ok());
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
  }

  TEST_CASE("Remove stops events") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadable, 1).ok());
    Send(p.b, "x");
    REQUIRE(poller->Remove(p.a.Get()).ok());
    std::array<PollEvent, 4> events;
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
  }

  TEST_CASE("a peer close reports hangup and read-hangup") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadable | kReadHangup, 9).ok());
    p.b.Reset();
    std::array<PollEvent, 4> events;
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].token == 9);
    CHECK((events[0].events & kReadable) != 0);
    CHECK((events[0].events & kReadHangup) != 0);
    CHECK((events[0].events & kHangup) != 0);
    CHECK((events[0].events & kError) == 0);
  }

  TEST_CASE("a half-close reports read-hangup only when asked") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadHangup, 4).ok());
    REQUIRE(::shutdown(p.b.Get(), SHUT_WR) == 0);
    std::array<PollEvent, 4> events;
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].events == kReadHangup);
  }

  TEST_CASE("edge-triggered interest reports once per new data") {
    auto poller = MakePoller();
    Pair p = MakePair();
    REQUIRE(poller->Add(p.a.Get(), kReadable | kEdgeTriggered, 5).ok());
    std::array<PollEvent, 4> events;
    Send(p.b, "one");
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].events == kReadable);
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);  // unread, no new edge
    Send(p.b, "two");
    REQUIRE(poller->Wait(absl::MakeSpan(events), kLongMs) == 1);
    CHECK(events[0].token == 5);
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
  }

  TEST_CASE("Wait writes no more events than there is room for") {
    auto poller = MakePoller();
    Pair p1 = MakePair();
    Pair p2 = MakePair();
    Pair p3 = MakePair();
    REQUIRE(poller->Add(p1.a.Get(), kWritable, 1).ok());
    REQUIRE(poller->Add(p2.a.Get(), kWritable, 2).ok());
    REQUIRE(poller->Add(p3.a.Get(), kWritable, 3).ok());
    std::array<PollEvent, 8> events;
    CHECK(poller->Wait(absl::MakeSpan(events.data(), 2), kLongMs) == 2);
    CHECK(poller->Wait(absl::MakeSpan(events), kLongMs) == 3);
    uint64_t sum = 0;
    for (int i = 0; i < 3; ++i) sum += events[i].token;
    CHECK(sum == 6);
  }

  TEST_CASE("registration errors name the operation and the fd") {
    auto poller = MakePoller();
    Pair p = MakePair();
    absl::Status s = poller->Modify(p.a.Get(), kReadable, 1);
    CHECK(s.code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(s.message(), "epoll_ctl(MOD) fd"));
    REQUIRE(poller->Add(p.a.Get(), kReadable, 1).ok());
    s = poller->Add(p.a.Get(), kReadable, 1);
    CHECK(s.code() == absl::StatusCode::kAlreadyExists);
    CHECK(absl::StrContains(s.message(), "epoll_ctl(ADD)"));
    CHECK_FALSE(poller->Remove(-1).ok());
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io
