#include "io/unique_fd.h"

#include <string.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace actnet::io {

void UniqueFd::Reset(int fd) noexcept {
  if (fd_ == fd) return;
  if (fd_ >= 0) {
    // Linux releases the descriptor even when close() reports EINTR, so a
    // retry could close a descriptor another thread has just been given.
    ::close(fd_);
  }
  fd_ = fd;
}

std::string ErrnoMessage(int err) {
  char buf[256];
  // GNU strerror_r: returns a pointer to the message, which may or may not
  // be `buf`.
  const char* msg = ::strerror_r(err, buf, sizeof(buf));
  return std::string(msg);
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  if (err == 0) {
    return absl::InternalError(
        absl::StrCat(what, ": failed without an errno value"));
  }
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", ErrnoMessage(err)));
}

}  // namespace actnet::io
