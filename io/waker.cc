#include "io/waker.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace actnet::io {

absl::StatusOr<Waker> Waker::Create() {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "eventfd");
  return Waker(std::move(fd));
}

void Waker::Wake() {
  const uint64_t one = 1;
  while (::write(fd_.Get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void Waker::Drain() {
  uint64_t count;
  // Not a semaphore eventfd: a successful read returns the whole counter
  // and zeroes it, so a single read drains.
  while (::read(fd_.Get(), &count, sizeof(count)) < 0 && errno == EINTR) {
  }
}

}  // namespace actnet::io
