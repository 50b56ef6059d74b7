// EpollPoller is the Linux Poller: one epoll instance (close-on-exec),
// owned by this object, plus a reusable array of kernel events sized to the
// largest Wait request (so Wait allocates only when a larger batch is first
// asked for). Loop thread only, like every Poller.

#ifndef ACTNET_IO_EPOLL_POLLER_H_
#define ACTNET_IO_EPOLL_POLLER_H_

#include <sys/epoll.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "io/poller.h"
#include "io/unique_fd.h"

namespace actnet::io {

class EpollPoller final : public Poller {
 public:
  // epoll_create1(EPOLL_CLOEXEC).
  static absl::StatusOr<std::unique_ptr<EpollPoller>> Create();

  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  absl::Status Add(int fd, uint32_t interest, uint64_t token) override;
  absl::Status Modify(int fd, uint32_t interest, uint64_t token) override;
  absl::Status Remove(int fd) override;
  int Wait(absl::Span<PollEvent> out, int timeout_ms) override;

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
