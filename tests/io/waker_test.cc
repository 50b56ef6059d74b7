#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/waker.h"

#include <fcntl.h>

#include <array>
#include <thread>

#include "absl/synchronization/notification.h"
#include "doctest/doctest.h"
#include "io/epoll_poller.h"
#include "tests/testing/common.h"

namespace actnet::io {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();
constexpr uint64_t kWakerToken = 42;

Waker MakeWaker() {
  absl::StatusOr<Waker> w = Waker::Create();
  REQUIRE(w.ok());
  return std::move(*w);
}

std::unique_ptr<EpollPoller> PollerWatching(const Waker& waker) {
  absl::StatusOr<std::unique_ptr<EpollPoller>> p = EpollPoller::Create();
  REQUIRE(p.ok());
  REQUIRE((*p)->Add(waker.fd(), kReadable, kWakerToken).ok());
  return std::move(*p);
}

TEST_SUITE("Waker") {
  TEST_CASE("the eventfd is non-blocking and close-on-exec") {
    Waker waker = MakeWaker();
    CHECK((::fcntl(waker.fd(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(waker.fd(), F_GETFD) & FD_CLOEXEC) != 0);
  }

  TEST_CASE("a Wake from another thread unblocks a Wait") {
    Waker waker = MakeWaker();
    auto poller = PollerWatching(waker);
    absl::Notification about_to_wait;
    std::thread other([&] {
      about_to_wait.WaitForNotification();
      waker.Wake();
    });
    about_to_wait.Notify();
    std::array<PollEvent, 2> events;
    // Forever: if the wake-up were lost, the test's Bazel timeout fails it.
    int n = poller->Wait(absl::MakeSpan(events), -1);
    other.join();
    REQUIRE(n == 1);
    CHECK(events[0].token == kWakerToken);
    CHECK(events[0].events == kReadable);
  }

  TEST_CASE("Drain clears readability and later wakes still work") {
    Waker waker = MakeWaker();
    auto poller = PollerWatching(waker);
    std::array<PollEvent, 2> events;
    waker.Wake();
    waker.Wake();
    waker.Wake();
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 1);
    waker.Drain();
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
    waker.Drain();  // draining an idle waker is harmless
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
    waker.Wake();
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 1);
  }

  TEST_CASE("many concurrent Wakes coalesce into one readiness") {
    Waker waker = MakeWaker();
    auto poller = PollerWatching(waker);
    std::thread threads[4];
    for (std::thread& t : threads) {
      t = std::thread([&] {
        for (int i = 0; i < 1000; ++i) waker.Wake();
      });
    }
    for (std::thread& t : threads) t.join();
    std::array<PollEvent, 2> events;
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 1);
    waker.Drain();
    CHECK(poller->Wait(absl::MakeSpan(events), 0) == 0);
  }

  TEST_CASE("a moved-to waker keeps the descriptor") {
    Waker a = MakeWaker();
    const int fd = a.fd();
    Waker b = std::move(a);
    CHECK(b.fd() == fd);
    CHECK(a.fd() == -1);  // NOLINT(bugprone-use-after-move)
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io
