// Waker wakes an event loop blocked in its poller: an eventfd (non-blocking,
// close-on-exec), owned by this object, that the loop registers for
// readability. Wake() is thread-safe and may be called from any thread; the
// other methods belong to the loop thread. Coalescing (waking only a loop
// that is asleep) is the caller's job; a Wake on an already-pending waker
// costs one write and is harmless.

#ifndef ACTNET_IO_WAKER_H_
#define ACTNET_IO_WAKER_H_

#include <utility>

#include "absl/status/statusor.h"
#include "io/unique_fd.h"

namespace actnet::io {

class Waker {
 public:
  // eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
  static absl::StatusOr<Waker> Create();

  Waker(Waker&&) noexcept = default;
  Waker& operator=(Waker&&) noexcept = default;

  // The descriptor to register with the poller (for kReadable).
  int fd() const { return fd_.Get(); }

  // Makes fd() readable. Thread-safe. EAGAIN (counter saturated) means a
  // wake-up is already pending and is ignored.
  void Wake();

  // Clears readability: one read resets the eventfd counter to zero. A Wake
  // racing with Drain leaves the fd readable, so no wake-up is lost. Loop
  // thread only.
  void Drain();

 private:
  explicit Waker(UniqueFd fd) : fd_(std::move(fd)) {}

  UniqueFd fd_;
};

}  // namespace actnet::io

#endif  // ACTNET_IO_WAKER_H_
