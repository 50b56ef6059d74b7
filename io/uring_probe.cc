#include "io/uring_probe.h"

#include <liburing.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace actnet::io {
namespace {

struct Op {
  int code;
  const char* name;
};

// Every operation the io_uring backend submits.
constexpr Op kOps[] = {
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
    {IORING_OP_RECV, "IORING_OP_RECV"},
    {IORING_OP_SEND, "IORING_OP_SEND"},
    {IORING_OP_RECVMSG, "IORING_OP_RECVMSG"},
    {IORING_OP_SENDMSG, "IORING_OP_SENDMSG"},
    {IORING_OP_CONNECT, "IORING_OP_CONNECT"},
    {IORING_OP_SHUTDOWN, "IORING_OP_SHUTDOWN"},
    {IORING_OP_CLOSE, "IORING_OP_CLOSE"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
    {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
    {IORING_OP_MSG_RING, "IORING_OP_MSG_RING"},
};

absl::Status SetupError(int ret) {
  return absl::Status(absl::ErrnoToStatusCode(-ret),
                      absl::StrCat("io_uring_setup: ", std::strerror(-ret)));
}

// Creates `ring`, with single-issuer and deferred task running if the
// kernel has them; sets *deferred accordingly.
absl::Status Setup(io_uring* ring, bool* deferred) {
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int ret = io_uring_queue_init_params(8, ring, &p);
  *deferred = ret == 0;
  if (ret == -EINVAL) ret = io_uring_queue_init(8, ring, 0);  // older kernel
  return ret == 0 ? absl::OkStatus() : SetupError(ret);
}

absl::Status CheckOps(io_uring* ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) {
    return absl::UnimplementedError("io_uring: IORING_REGISTER_PROBE failed");
  }
  absl::Status status;
  for (const Op& op : kOps) {
    if (!io_uring_opcode_supported(probe, op.code)) {
      status = absl::UnimplementedError(
          absl::StrCat("io_uring: ", op.name, " not supported"));
      break;
    }
  }
  io_uring_free_probe(probe);
  return status;
}

// Registers and unregisters a one-entry provided-buffer ring (kernel 5.19+).
absl::Status CheckBufferRing(io_uring* ring) {
  void* mem = std::aligned_alloc(4096, 4096);
  if (mem == nullptr) return absl::ResourceExhaustedError("io_uring probe");
  std::memset(mem, 0, 4096);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<unsigned long>(mem);  // NOLINT
  reg.ring_entries = 1;
  reg.bgid = 0;
  const int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret == 0) io_uring_unregister_buf_ring(ring, 0);
  std::free(mem);
  if (ret == 0) return absl::OkStatus();
  return absl::UnimplementedError(absl::StrCat(
      "io_uring: provided-buffer rings not supported: ", std::strerror(-ret)));
}

struct Result {
  absl::Status status;
  bool deferred = false;
};

Result Probe() {
  io_uring ring;
  Result r;
  r.status = Setup(&ring, &r.deferred);
  if (!r.status.ok()) return r;
  r.status = CheckOps(&ring);
  if (r.status.ok()) r.status = CheckBufferRing(&ring);
  io_uring_queue_exit(&ring);
  if (!r.status.ok()) r.deferred = false;
  return r;
}

const Result& Cached() {
  static const Result result = Probe();  // thread-safe static init
  return result;
}

}  // namespace

absl::Status ProbeIoUring() { return Cached().status; }

bool IoUringDeferTaskrun() { return Cached().deferred; }

}  // namespace actnet::io
