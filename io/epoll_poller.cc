#include "io/epoll_poller.h"

#include <errno.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace actnet::io {
namespace {

uint32_t ToEpoll(uint32_t interest) {
  uint32_t ev = 0;
  if (interest & kReadable) ev |= EPOLLIN;
  if (interest & kWritable) ev |= EPOLLOUT;
  if (interest & kReadHangup) ev |= EPOLLRDHUP;
  if (interest & kEdgeTriggered) ev |= EPOLLET;
  return ev;
}

// Branch-free translation; the compiler turns each term into a test and a
// conditional move.
inline uint32_t FromEpoll(uint32_t ev) {
  return ((ev & EPOLLIN) ? kReadable : 0) | ((ev & EPOLLOUT) ? kWritable : 0) |
         ((ev & EPOLLERR) ? kError : 0) | ((ev & EPOLLHUP) ? kHangup : 0) |
         ((ev & EPOLLRDHUP) ? kReadHangup : 0);
}

absl::string_view OpName(int op) {
  switch (op) {
    case EPOLL_CTL_ADD:
      return "ADD";
    case EPOLL_CTL_MOD:
      return "MOD";
    default:
      return "DEL";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<EpollPoller>> EpollPoller::Create() {
  UniqueFd fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "epoll_create1");
  return std::unique_ptr<EpollPoller>(new EpollPoller(std::move(fd)));
}

absl::Status EpollPoller::Control(int op, int fd, uint32_t interest,
                                  uint64_t token) {
  epoll_event ev{};
  ev.events = ToEpoll(interest);
  ev.data.u64 = token;
  if (::epoll_ctl(epoll_fd_.Get(), op, fd, &ev) != 0) {
    return ErrnoStatus(errno, absl::StrCat("epoll_ctl(", OpName(op), ") fd ", fd));
  }
  return absl::OkStatus();
}

absl::Status EpollPoller::Add(int fd, uint32_t interest, uint64_t token) {
  return Control(EPOLL_CTL_ADD, fd, interest, token);
}

absl::Status EpollPoller::Modify(int fd, uint32_t interest, uint64_t token) {
  return Control(EPOLL_CTL_MOD, fd, interest, token);
}

absl::Status EpollPoller::Remove(int fd) {
  return Control(EPOLL_CTL_DEL, fd, 0, 0);
}

int EpollPoller::Wait(absl::Span<PollEvent> out, int timeout_ms) {
  const int max = static_cast<int>(std::min<size_t>(out.size(), INT_MAX));
  if (max == 0) return 0;
  if (events_.size() < static_cast<size_t>(max)) events_.resize(max);
  const int n = ::epoll_wait(epoll_fd_.Get(), events_.data(), max, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  const epoll_event* in = events_.data();
  PollEvent* dst = out.data();
  for (int i = 0; i < n; ++i) {
    dst[i].token = in[i].data.u64;
    dst[i].events = FromEpoll(in[i].events);
  }
  return n;
}

}  // namespace actnet::io
