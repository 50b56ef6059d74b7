// EpollPoller: one epoll instance (close-on-exec), owned by this object,
// plus a reusable array of kernel events sized to the largest Wait request
// (so Wait allocates only when a larger batch is first asked for). It
// registers fds (never owned) with an interest set and a 64-bit token and
// reports readiness with the token. The epoll backend (epoll_backend.h) is
// built on it. One thread at a time.

#ifndef ACTNET_IO_EPOLL_POLLER_H_
#define ACTNET_IO_EPOLL_POLLER_H_

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "io/unique_fd.h"

namespace actnet::io {

// Event bits, used both for interest and for reported readiness.
inline constexpr uint32_t kReadable = 1u << 0;
inline constexpr uint32_t kWritable = 1u << 1;
inline constexpr uint32_t kError = 1u << 2;          // reported only
inline constexpr uint32_t kHangup = 1u << 3;         // reported only
inline constexpr uint32_t kReadHangup = 1u << 4;     // interest and report
inline constexpr uint32_t kEdgeTriggered = 1u << 5;  // interest only

struct PollEvent {
  uint64_t token;
  uint32_t events;
};

class EpollPoller {
 public:
  // epoll_create1(EPOLL_CLOEXEC).
  static absl::StatusOr<std::unique_ptr<EpollPoller>> Create();

  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  // Registers `fd` with `interest` (kReadable, kWritable, kReadHangup,
  // kEdgeTriggered; errors and hang-ups are always reported).
  // Level-triggered unless kEdgeTriggered is given.
  absl::Status Add(int fd, uint32_t interest, uint64_t token);
  // Replaces the interest set and token of a registered fd.
  absl::Status Modify(int fd, uint32_t interest, uint64_t token);
  // Unregisters `fd`; call it before closing an fd that may be duplicated.
  absl::Status Remove(int fd);
  // Waits up to timeout_ms (-1 = forever, 0 = just poll) and writes at most
  // out.size() events. Returns the count: 0 on timeout, on EINTR or when
  // `out` is empty; -errno if the wait itself fails.
  int Wait(absl::Span<PollEvent> out, int timeout_ms);

  // The epoll descriptor, e.g. to nest this poller in another.
  int fd() const { return epoll_fd_.Get(); }

 private:
  explicit EpollPoller(UniqueFd epoll_fd) : epoll_fd_(std::move(epoll_fd)) {}
  absl::Status Control(int op, int fd, uint32_t interest, uint64_t token);

  UniqueFd epoll_fd_;
  std::vector<epoll_event> events_;
};

}  // namespace actnet::io

#endif  // ACTNET_IO_EPOLL_POLLER_H_
