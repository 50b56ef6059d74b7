// Poller is the readiness-notification interface an event loop waits on:
// register fds with an interest set and a 64-bit token, then Wait for
// events that carry the token back. It owns the kernel object behind it
// (an epoll instance today; the interface leaves room for io_uring or
// kqueue) but never the registered fds. Loop thread only: a poller is
// created, used and destroyed by the loop that owns it.

#ifndef ACTNET_IO_POLLER_H_
#define ACTNET_IO_POLLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

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

class Poller {
 public:
  virtual ~Poller() = default;

  // Registers `fd` (not owned) with `interest` (kReadable, kWritable,
  // kReadHangup, kEdgeTriggered; errors and hangups are always reported).
  // Level-triggered unless kEdgeTriggered is given. Loop thread only.
  virtual absl::Status Add(int fd, uint32_t interest, uint64_t token) = 0;
  // Replaces the interest set and token of a registered fd. Loop thread only.
  virtual absl::Status Modify(int fd, uint32_t interest, uint64_t token) = 0;
  // Unregisters `fd`; must be called before the fd is closed if the fd may
  // have been duplicated. Loop thread only.
  virtual absl::Status Remove(int fd) = 0;

  // Waits up to timeout_ms (-1 = forever, 0 = just poll) and writes at most
  // out.size() events. Returns the count: 0 on timeout, on EINTR or when
  // `out` is empty; -errno if the wait itself fails (a bug such as a closed
  // poller). Loop thread only.
  virtual int Wait(absl::Span<PollEvent> out, int timeout_ms) = 0;
};

}  // namespace actnet::io

#endif  // ACTNET_IO_POLLER_H_
