// Backend: the I/O seam between an event loop and the kernel. Actors ask
// for operations on the sockets they register (accept, read, send, connect,
// shut down, close) and are told the outcomes through sinks (bytes read,
// the peer's EOF, room to send again, a connection made, an error). A
// readiness backend (epoll) performs each syscall when the fd is ready; a
// completion backend (io_uring) submits operations and reports their
// completions; nothing above this interface can tell which.
// Threads: a backend belongs to one loop thread (co-hosted loops share it
// and tell their registrations apart by `owner`); every method and sink
// callback runs there. Knows nothing of actors.
#ifndef ACTNET_IO_BACKEND_H_
#define ACTNET_IO_BACKEND_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "io/address.h"
#include "io/unique_fd.h"

namespace actnet::io {

// Names one registration: an index and a generation, so a completion for a
// registration that was closed earlier in the same batch resolves to
// nothing. 0 is never a live handle.
using Handle = uint64_t;
inline constexpr Handle kNoHandle = 0;

// A stream socket's outcomes (TCP, unix stream), for a connection.
class StreamSink {
 public:
  // Bytes read. `data` is lent until the call returns; keep a copy of what
  // is needed later.
  virtual void OnRead(absl::string_view data) = 0;
  // The peer's FIN: nothing more will be read.
  virtual void OnReadEof() = 0;
  // After a Send that took fewer bytes than offered: the socket takes more.
  virtual void OnSendReady() = 0;
  // A connect (Backend::Connect) finished: 0, or the errno it failed with.
  virtual void OnConnected(int err) = 0;
  // The connection failed (err: an errno) or the peer hung up with nothing
  // left to read (err == 0).
  virtual void OnHangup(int err) = 0;

 protected:
  ~StreamSink() = default;
};

// A listening socket's outcomes.
class AcceptSink {
 public:
  // A new connection, non-blocking and close-on-exec; ownership passes.
  virtual void OnAccepted(UniqueFd fd, const SocketAddress& peer) = 0;
  // Accepting failed for lack of a resource (EMFILE, ENFILE, ENOBUFS,
  // ENOMEM...): the backend has stopped accepting on this socket until
  // ResumeAccept. Transient errors (ECONNABORTED, EINTR...) are skipped and
  // never reported.
  virtual void OnAcceptError(int err) = 0;

 protected:
  ~AcceptSink() = default;
};

// A datagram socket's outcomes (UDP, bound or connected).
class DatagramSink {
 public:
  // One whole datagram, lent until the call returns. `from` is its sender
  // (empty for a connected socket).
  virtual void OnDatagram(absl::string_view data,
                          const SocketAddress& from) = 0;
  // A datagram larger than the backend's buffer arrived and was dropped
  // whole (never handed out cut).
  virtual void OnDatagramTooLarge(size_t size, const SocketAddress& from) = 0;
  // Receiving failed (e.g. ECONNREFUSED from a connected socket's peer).
  virtual void OnDatagramError(int err) = 0;

 protected:
  ~DatagramSink() = default;
};

// Whether a stream or datagram registration delivers reads.
enum class Reading : uint8_t {
  kOn,      // deliver reads (the default)
  kPaused,  // not now: bytes wait in the kernel, resumed later with kOn
  kOff,     // never again (the peer's EOF was seen, or the socket is closing)
};

// How Close ends a registration.
enum class CloseMode : uint8_t {
  kClose,    // close the fd (a normal close: FIN after queued kernel bytes)
  kReset,    // close with SO_LINGER 0: the peer gets a reset (RST)
  kRelease,  // stop watching it and leave the fd open (a borrowed fd)
};

// One unit of work from Poll, for Dispatch. Opaque above the backend.
struct Completion {
  Handle handle = kNoHandle;
  uint32_t bits = 0;
  int32_t result = 0;
};

class Backend {
 public:
  static constexpr uint32_t kNoOwner = 0xFFFFFFFFu;

  virtual ~Backend() = default;

  // ---- Registration. `owner` is returned by OwnerOf for this handle's
  // completions. Sinks are not owned and must outlive the registration.
  // A wake-up fd (an eventfd another thread writes): its completions only
  // end a wait; they have no owner and are not dispatched.
  virtual absl::Status AddWaker(int fd) = 0;
  // A connected stream socket; takes ownership of the fd. Reading is on.
  virtual absl::StatusOr<Handle> AddStream(UniqueFd fd, StreamSink* sink,
                                           uint32_t owner) = 0;
  // A new stream socket connecting to `remote`. Reports OnConnected(0)
  // (reading then on) or OnConnected(errno) from a later Dispatch; an
  // immediate failure is the returned status. *fd receives the socket's
  // descriptor number (for socket options); the backend owns it.
  virtual absl::StatusOr<Handle> Connect(const SocketAddress& remote,
                                         StreamSink* sink, uint32_t owner,
                                         int* fd) = 0;
  // A datagram socket. With `owned` the backend closes it on Close(kClose);
  // otherwise only Close(kRelease) is meaningful. Reading is on.
  virtual absl::StatusOr<Handle> AddDatagram(int fd, bool owned,
                                             DatagramSink* sink,
                                             uint32_t owner) = 0;
  // A listening socket (not owned). Accepting is on.
  virtual absl::StatusOr<Handle> AddAcceptor(int fd, AcceptSink* sink,
                                             uint32_t owner) = 0;

  // ---- Operations.
  virtual void SetReading(Handle h, Reading reading) = 0;
  // Sends what the socket takes of iov[0..count) now and returns that many
  // bytes (0 included), or -errno when the connection failed. The caller's
  // memory is free again when this returns. Taking fewer bytes than offered
  // promises one OnSendReady once the socket may take more.
  virtual ssize_t Send(Handle h, const iovec* iov, int count) = 0;
  // One datagram to `to` (null: the connected peer). Returns the bytes sent
  // or -errno (-EAGAIN when the socket buffer is full: the datagram is
  // dropped, as the network may drop it).
  virtual ssize_t SendDatagram(Handle h, absl::string_view data,
                               const SocketAddress* to) = 0;
  // shutdown(SHUT_WR): FIN after what the kernel holds. 0 or -errno.
  virtual int ShutdownWrite(Handle h) = 0;
  virtual void PauseAccept(Handle h) = 0;
  virtual void ResumeAccept(Handle h) = 0;
  // Ends the registration; no completion for it is dispatched afterwards.
  // A handle that is not live (kNoHandle, closed already) is ignored, as
  // by every operation here.
  virtual void Close(Handle h, CloseMode mode) = 0;

  // ---- Waiting: the loop thread's cycle is Poll, then for each completion
  // OwnerOf (kNoOwner: skip it) and Dispatch.
  // Waits up to timeout_ms (-1: no limit, 0: just look) and fills `out`,
  // starting a new batch: data lent with the previous batch's completions
  // may be reused from here on. Returns the count (0 on timeout or EINTR).
  // Never blocks while HasPending().
  virtual int Poll(absl::Span<Completion> out, int timeout_ms) = 0;
  // Adds what is ready now to the batch in out[0..ready) without waiting
  // and returns the batch's new size. A readiness backend may fold a
  // socket reported again into its completion already there; a completion
  // backend appends.
  virtual int PollMore(absl::Span<Completion> out, int ready) = 0;
  // Work the backend will report without waiting (e.g. reads it deferred
  // to stay fair between connections).
  virtual bool HasPending() const = 0;
  // The owner of a completion's registration, or kNoOwner if it is gone.
  virtual uint32_t OwnerOf(const Completion& c) const = 0;
  // Performs what the completion calls for and calls its sink.
  virtual void Dispatch(const Completion& c) = 0;
  // The loop thread is done: finish what closes left in flight (bytes a
  // completion backend had staged for a connection closed since), waiting
  // at most timeout_ms. Called once, on the loop thread, after the last
  // Dispatch. A readiness backend handed those bytes to the kernel at
  // Close and has nothing to do.
  virtual void Quiesce(int timeout_ms) { (void)timeout_ms; }

  // ---- Waking another loop thread without a system call of one's own
  // (optional). WakeTarget: what another backend of this process can post
  // a wake-up to (io_uring: the ring's fd), or -1. Thread-safe: fixed once
  // created.
  virtual int WakeTarget() const { return -1; }
  // On this backend's thread: queues a wake-up of the backend whose
  // WakeTarget() is `target`, sent with this thread's next wait; should it
  // fail, the eventfd `fallback_fd` is written instead. False when this
  // backend cannot (the caller writes the eventfd itself).
  virtual bool QueueWake(int target, int fallback_fd) {
    (void)target;
    (void)fallback_fd;
    return false;
  }
};

// For backends: one recvfrom of a datagram socket into `buf`, handed to
// `sink` (OnDatagram, OnDatagramTooLarge when it did not fit, or
// OnDatagramError). Returns false when nothing more is waiting or the
// receive failed.
bool ReceiveDatagram(int fd, char* buf, size_t size, DatagramSink* sink);

}  // namespace actnet::io

#endif  // ACTNET_IO_BACKEND_H_
