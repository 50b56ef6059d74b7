// LoopStats: what one event loop has done since its engine started, for
// monitoring, benchmarks and tests; Engine::Stats() returns one per loop.
// Each counter is written by its loop alone and read with a relaxed load,
// so each value is exact when read but a set of them is not a snapshot of
// one instant. Co-hosted loops share their thread's waits: the thread's
// first loop reports the polls, blocks, windows and yields of all of them,
// the others 0 for those four.
#ifndef ACTNET_ACTORS_LOOP_STATS_H_
#define ACTNET_ACTORS_LOOP_STATS_H_

#include <cstdint>

namespace actnet {

struct LoopStats {
  uint32_t loop = 0;
  uint64_t iterations = 0;  // passes through the loop
  uint64_t polls = 0;       // epoll_wait calls, zero-timeout ones included
  uint64_t blocks = 0;      // polls that could block (the mailbox parked)
  uint64_t windows = 0;     // coalescing windows slept (EngineOptions::coalesce)
  uint64_t yields = 0;      // sched_yield calls by a loop sharing its CPU
  uint64_t messages = 0;    // envelopes taken from the mailbox
  uint64_t wakeups = 0;     // wake-ups of this loop's parked mailbox (eventfd
                            // writes, or MSG_RING posts on io_uring)
  uint64_t dead_letters = 0;
  uint64_t unhandled = 0;   // messages an actor did not handle (typed.h)
  int64_t connections = 0;  // open now
  // Listeners served by this loop: connections refused over
  // max_connections, and accept pauses for lack of fds or memory.
  uint64_t rejected = 0;
  uint64_t accept_pauses = 0;
  // Datagrams dropped: larger than the read buffer on arrival, or not sent
  // (socket buffer full).
  uint64_t truncated_datagrams = 0;
  uint64_t dropped_datagrams = 0;

  // Adds another loop's counters (`loop` is left as it is): totals.
  LoopStats& operator+=(const LoopStats& o) {
    iterations += o.iterations;
    polls += o.polls;
    blocks += o.blocks;
    windows += o.windows;
    yields += o.yields;
    messages += o.messages;
    wakeups += o.wakeups;
    dead_letters += o.dead_letters;
    unhandled += o.unhandled;
    connections += o.connections;
    rejected += o.rejected;
    accept_pauses += o.accept_pauses;
    truncated_datagrams += o.truncated_datagrams;
    dropped_datagrams += o.dropped_datagrams;
    return *this;
  }
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_LOOP_STATS_H_
