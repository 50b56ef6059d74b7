// Engine options: everything an Engine is configured with, with the
// defaults a server wants. Plain data; copied into the engine at creation.
#ifndef ACTNET_ACTORS_OPTIONS_H_
#define ACTNET_ACTORS_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "balance/balancer.h"

namespace actnet {

struct EngineOptions {
  // Event loops (threads). 0 = one per online CPU.
  int loops = 0;
  // Pin loop i to CPU i % (number of CPUs).
  bool pin_cpus = false;
  // How a listener picks the loop for a new connection (ignored for
  // reuseport listeners, where the kernel balances).
  balance::Strategy balancer = balance::Strategy::kRoundRobin;
  // Register connections edge-triggered instead of level-triggered.
  bool edge_triggered = false;
  // Co-hosting: when there are more loops than CPUs they may run on (more
  // loops than the process's affinity allows, e.g. under `taskset`, or
  // pin_cpus with more loops than CPUs), run one thread per CPU and put the
  // loops that would share it on that thread: loop i on thread
  // i % (threads), all of a thread's loops polling one epoll set. Each loop
  // keeps its own connections, mailbox, timers and index, so nothing
  // changes for handlers, but a message between loops of one thread costs
  // no context switch and no eventfd wake-up (gnet's loops are goroutines
  // and share threads the same way when GOMAXPROCS is smaller). A handler
  // that blocks stalls every loop of its thread. false: a thread per loop,
  // and loops sharing a CPU yield it to each other (see coalesce below).
  bool cohost_loops = true;

  // Bytes read per readiness event into the loop's scratch buffer.
  size_t read_buffer_size = 64 * 1024;
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

  // Mailbox: ring slots per loop (power of two), the foreign-thread queue
  // bound, the per-destination outbox bound, and messages per batch.
  size_t mailbox_capacity = 4096;
  size_t foreign_queue_limit = 1 << 16;
  size_t outbox_limit = 1 << 16;
  size_t mailbox_batch = 256;
  // Spin iterations polling the mailbox before an idle loop parks.
  int idle_spins = 64;
  // Before an idle loop blocks in epoll_wait, it polls (epoll_wait with a
  // zero timeout) for up to this long. Zero (the default) blocks at once.
  // A few tens of microseconds trade that much CPU for the cost of going
  // to sleep and being woken when the next request is only microseconds
  // away (pipelining clients, request/response with a fast peer); the
  // spin is charged to the server either way, so measure it (perf/compare).
  absl::Duration busy_poll = absl::ZeroDuration();
  // Wake-up coalescing (see actors/coalesce.h): a loaded loop that would
  // block with fewer than four events ready first sleeps this long without
  // being woken by socket events, then takes what arrived in one poll; if
  // nothing did, it blocks as usual. Under load from many connections this
  // turns one wake-up (and one context switch, paid partly by the peer that
  // woke the loop) per request into one per batch. "Loaded": the loop was
  // busy (not waiting) for at least coalesce_min_busy_percent of the last
  // 10 ms, until that falls 5 points lower; below it a loop blocks at once,
  // so a lightly loaded server pays no latency for it. Windows stay on only
  // while they gather two or more events (a lone request/response
  // connection backs off, probing after 1, 2, 4 ... 256 blocking waits). A
  // loop near saturation sleeps shorter windows: at most its idle share of
  // 250 us (CoalescePolicy::sleep_ns), so that sleeps do not stretch its
  // cycles and queue requests behind them. An event arriving during a
  // window waits up to the window plus the timer's wake-up latency (about
  // 30 us more in some VMs). The default is sized for VMs, where a sleep is
  // dear: on the reference host every window costs the loop ~19 us of CPU
  // whatever its length (timer, halt and switch each trap to the
  // hypervisor; perf/reference/wake_cost), so a longer window amortises it
  // over more requests; it costs median latency at moderate load
  // (docs/latency.md). On bare metal, where a sleep costs a few
  // microseconds, 20-40 us gathers as much as is worth it. Loop
  // threads that share a CPU (with cohost_loops false: more loops than CPUs
  // the process may use, or pin_cpus putting two on one) first yield the
  // CPU to each other, and sleep the window only if that still leaves fewer
  // than four events. Co-hosted loops coalesce as one: their thread's
  // window gathers the events of all of them. Zero disables it; it is
  // ignored when busy_poll is set.
  absl::Duration coalesce = absl::Microseconds(80);
  int coalesce_min_busy_percent = 45;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_OPTIONS_H_
