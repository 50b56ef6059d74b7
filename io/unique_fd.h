// UniqueFd is the single owner of a file descriptor: a move-only value that
// closes the descriptor when it is destroyed, reset or assigned over. A socket
// handed from one thread to another travels as a UniqueFd, so a hand-off that
// fails closes the socket by itself. A UniqueFd is a plain value with no
// internal synchronisation: one thread at a time may use a given instance.
//
// ErrnoStatus turns an errno value into an absl::Status whose message names
// the failed operation and its target.

#ifndef ACTNET_IO_UNIQUE_FD_H_
#define ACTNET_IO_UNIQUE_FD_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace actnet::io {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (which may be -1 for "none").
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  ~UniqueFd() { Reset(); }

  int Get() const noexcept { return fd_; }
  bool IsValid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return IsValid(); }

  // Gives up ownership without closing; returns the descriptor (or -1).
  int Release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Closes the owned descriptor (if any) and takes ownership of `fd`.
  // Resetting to the descriptor already owned is a no-op.
  void Reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Returns a status "what: strerror(err)" whose code follows errno: EINVAL ->
// InvalidArgument, ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied,
// EADDRINUSE -> FailedPrecondition, ECONNREFUSED -> Unavailable, ETIMEDOUT ->
// DeadlineExceeded, EMFILE/ENFILE/ENOBUFS/ENOMEM -> ResourceExhausted, and so
// on (Abseil's errno mapping; unknown values give Unknown). `err` == 0 is a
// caller bug and gives Internal rather than OK, so an error is never lost.
absl::Status ErrnoStatus(int err, absl::string_view what);

// strerror(err) without the thread-safety problems of strerror().
std::string ErrnoMessage(int err);

}  // namespace actnet::io

#endif  // ACTNET_IO_UNIQUE_FD_H_
