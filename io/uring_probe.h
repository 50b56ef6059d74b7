// ProbeIoUring: whether this kernel and process can run what the io_uring
// backend needs, asked before a backend is chosen: a ring can be created
// (io_uring_setup may be refused by seccomp or a sysctl), every operation
// the backend submits is supported, and provided-buffer rings (multishot
// receive) can be registered. Computed on the first call (its own
// short-lived ring) and cached for the process; thread-safe.
#ifndef ACTNET_IO_URING_PROBE_H_
#define ACTNET_IO_URING_PROBE_H_

#include "absl/status/status.h"

namespace actnet::io {

// OK, or a status naming what is missing: the refused system call and its
// errno (e.g. "io_uring_setup: Operation not permitted") or the first
// unsupported operation ("io_uring: IORING_OP_MSG_RING not supported").
absl::Status ProbeIoUring();

// Whether the ring could be created with IORING_SETUP_SINGLE_ISSUER |
// IORING_SETUP_DEFER_TASKRUN (kernel 6.1+); the backend falls back to a
// plain ring without them. False when ProbeIoUring fails.
bool IoUringDeferTaskrun();

}  // namespace actnet::io

#endif  // ACTNET_IO_URING_PROBE_H_
