// EngineOptions: everything an Engine is configured with, with the
// defaults a server wants. Plain data, copied into the engine when it is
// constructed. The trade-offs behind the waiting options (busy_poll,
// coalesce) and their measurements are in docs/architecture.md.
#ifndef ACTNET_ACTORS_OPTIONS_H_
#define ACTNET_ACTORS_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "balance/balancer.h"

namespace actnet {

// The kernel interface the loops run on (docs/io_uring.md).
enum class IoBackend : uint8_t {
  kEpoll,    // readiness: epoll_wait, then a syscall per operation
  kIoUring,  // completions: io_uring; Start() fails if it cannot run
  kAuto,     // io_uring if this kernel and process can run it, else epoll
};

// "epoll", "io_uring", "auto". Also what lets ABSL_FLAG(actnet::IoBackend,
// ...) parse --backend=io_uring.
absl::string_view IoBackendName(IoBackend backend);
bool ParseIoBackend(absl::string_view text, IoBackend* backend);
bool AbslParseFlag(absl::string_view text, IoBackend* backend,
                   std::string* error);
std::string AbslUnparseFlag(IoBackend backend);

// TLS for tls:// addresses (OpenSSL 3; docs/tls.md). TLS 1.2 and 1.3 only;
// renegotiation refused. A server (Listen) needs cert_file and key_file; a
// client (Dial) verifies the server against ca_file (empty: the system's
// CAs) and the host it dials (or server_name).
struct TlsOptions {
  std::string cert_file;  // PEM certificate chain, leaf first
  std::string key_file;   // PEM private key matching it
  std::string ca_file;    // PEM CAs to verify the peer with
  // Server: ask every client for a certificate and verify it (ca_file).
  bool require_client_cert = false;
  // Client: verify the server's certificate and name. Off is for tests.
  bool verify_peer = true;
  // ALPN protocols in preference order ("h2", "http/1.1"): offered by a
  // client, chosen from by a server (no overlap fails the handshake).
  std::vector<std::string> alpn;
  // Client: the name sent as SNI and verified (default: the URL's host).
  std::string server_name;
  // A connection (accepted or dialled) whose handshake has not finished
  // by then is closed; established connections are never cut by it.
  absl::Duration handshake_timeout = absl::Seconds(10);
};

struct EngineOptions {
  // Event loops. 0 = one per CPU this process may run on (its affinity).
  int loops = 0;
  // Pin loop i to CPU i % (number of CPUs).
  bool pin_cpus = false;
  // How a listener picks the loop for a new connection (ignored for
  // reuseport listeners, where the kernel balances).
  balance::Strategy balancer = balance::Strategy::kRoundRobin;
  // The backend. The environment variable ACTNET_BACKEND (epoll, io_uring,
  // auto), when set, overrides it at Start(), to run a binary or a test
  // suite on another backend without rebuilding.
  IoBackend backend = IoBackend::kEpoll;
  // Register connections edge-triggered instead of level-triggered (epoll
  // only: io_uring has no readiness registration).
  bool edge_triggered = false;
  // With more loops than CPUs they may run on, run one thread per CPU, each
  // running the loops that would share that CPU (loop i on thread
  // i % threads). Loops keep their own connections, mailbox and timers; a
  // message between loops of one thread needs no wake-up. A handler that
  // blocks stalls every loop of its thread. false: a thread per loop.
  bool cohost_loops = true;

  // Bytes read per readiness event into the loop's scratch buffer (epoll).
  size_t read_buffer_size = 64 * 1024;
  // io_uring: each loop thread receives into a ring of uring_buffer_count
  // buffers (a power of two, at most 32768) of uring_buffer_size bytes,
  // resident from the start (2 MiB at the default). A receive completion
  // fills at most one buffer. Kernels from 6.12 consume a buffer
  // incrementally, so small messages of many connections share one;
  // before that every completion takes a whole buffer (docs/io_uring.md).
  uint32_t uring_buffer_size = 16 * 1024;
  uint32_t uring_buffer_count = 128;
  // io_uring: a send the backend staged (a small write, or the rest of a
  // large one the socket did not take at once) of at least this many bytes
  // goes out with IORING_OP_SEND_ZC, zero-copy from the staging buffer
  // (kernel 6.0+; ignored before). 0: off, the default: on loopback it
  // costs more than it saves (docs/io_uring.md).
  size_t uring_send_zc_min = 0;
  // Back-pressure: when a connection's queued output exceeds the high-water
  // mark, the loop stops reading it until the queue drains below the low one.
  size_t write_high_water = 1024 * 1024;
  size_t write_low_water = 256 * 1024;

  // TCP_NODELAY on accepted TCP connections.
  bool tcp_nodelay = true;
  // SO_KEEPALIVE with this idle time (zero = off).
  absl::Duration tcp_keepalive = absl::ZeroDuration();

  // Limits. A connection accepted beyond max_connections (0 = no limit) is
  // closed at once. A connection that neither reads nor writes a byte for
  // idle_timeout (zero = never) is closed (slowloris). A connection whose
  // unconsumed input passes max_inbound_buffer is closed (an endless line
  // or header cannot grow memory without bound).
  int64_t max_connections = 0;
  absl::Duration idle_timeout = absl::ZeroDuration();
  size_t max_inbound_buffer = 64 * 1024 * 1024;

  // How long Close() may wait to flush queued output before forcing it
  // (a forced close resets the connection, so the peer cannot mistake a
  // truncated reply for a complete one).
  absl::Duration close_linger = absl::Seconds(5);
  // How long a graceful Stop() lets connections flush before forcing them.
  absl::Duration stop_timeout = absl::Seconds(1);
  // A paused listener (EMFILE/ENFILE on accept) retries after this.
  absl::Duration accept_backoff = absl::Milliseconds(50);

  // Mailbox: slots of each sending loop's lane into a loop (power of two;
  // a lane is made when a loop first sends to another, 64 bytes a slot),
  // the foreign-thread queue bound, the per-destination outbox bound
  // (beyond it a send is ResourceExhausted), and messages per batch.
  size_t mailbox_capacity = 1024;
  size_t foreign_queue_limit = 1 << 16;
  size_t outbox_limit = 1 << 16;
  size_t mailbox_batch = 256;
  // Log (a warning per message, rate-limited to one a second per loop)
  // messages an actor did not handle; they are counted either way.
  bool log_unhandled = false;
  // Extra polls of the mailbox before a loop with nothing to do parks
  // (each a load of every lane's cursor). Every turn that finds no message
  // pays them, busy or not, and a message they catch would have woken the
  // loop anyway, so none by default; see docs/architecture.md.
  int idle_spins = 0;
  // Before an idle loop blocks, it polls (zero-timeout waits) for up to
  // this long: CPU traded for the cost of sleeping and being woken when
  // the next event is microseconds away. Zero: block at once. Works on
  // both backends (a zero-timeout wait each turn).
  absl::Duration busy_poll = absl::ZeroDuration();
  // Wake-up coalescing (coalesce.h): a loaded loop about to block with
  // fewer than four events ready first sleeps up to this long, then takes
  // what arrived in one pass: fewer wake-ups per request under load, paid
  // for in latency at moderate load. Zero disables it; ignored with
  // busy_poll. coalesce_min_busy_percent: the busy share that turns it on.
  absl::Duration coalesce = absl::ZeroDuration();
  int coalesce_min_busy_percent = 45;
  // The certificate and key every tls:// Listen serves (one context, its
  // session cache and ticket keys shared by all loops).
  TlsOptions tls;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_OPTIONS_H_
