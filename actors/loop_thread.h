// LoopThread: the reactor thread. It owns the OS thread, its CPU placement,
// the backend instance and the waiting policy, and runs one loop or, with
// co-hosting (EngineOptions::cohost_loops), several loops that share the
// thread and its backend. Each turn it computes the wait (zero if any loop
// has work), waits (busy polling or a coalescing window first, if
// configured), routes each completion to the loop that owns it, and lets
// every loop finish its iteration; it returns once all have stopped.
//
// Thread contract: Start and Join from the engine's controlling thread;
// the rest runs on the thread it starts. counters() is thread-safe.
#ifndef ACTNET_ACTORS_LOOP_THREAD_H_
#define ACTNET_ACTORS_LOOP_THREAD_H_

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "actors/coalesce.h"
#include "actors/loop_actor.h"
#include "actors/options.h"
#include "io/backend.h"

namespace actnet::internal {

class LoopThread {
 public:
  // Runs `loops` (the first is the host; at most kMaxLoops) on `backend`.
  // cpu >= 0 pins the thread. shares_cpu: other loop threads of the engine
  // can only run on this thread's CPU(s), so a coalescing window first
  // yields to them and sleeps only if that leaves a trickle.
  LoopThread(std::vector<LoopActor*> loops,
             std::unique_ptr<io::Backend> backend, const EngineOptions& options,
             int cpu, bool shares_cpu);
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  static constexpr size_t kMaxLoops = 255;

  void Start();
  void Join();

 private:
  static constexpr int kMaxEvents = 256;
  // How long the backend may finish sending what closes left staged once
  // every loop has stopped (Backend::Quiesce).
  static constexpr int kQuiesceMs = 1000;

  void Run();
  // 0 if any loop has work (or the backend does), else every loop is
  // parked and this is the nearest deadline (-1: none).
  int GroupTimeout();
  void UnparkGroup();
  bool GroupHasPending() const;
  // Adds what is ready now to the batch events[0..ready); returns its size.
  int PollMore(absl::Span<io::Completion> events, int ready);
  // Poll, after up to busy_poll of zero-timeout polls or a coalescing
  // window (EngineOptions::coalesce) when it would block.
  int WaitForEvents(absl::Span<io::Completion> events, int timeout);
  int Coalesce(absl::Span<io::Completion> events, int timeout);
  int Poll(absl::Span<io::Completion> events, int timeout);
  void DispatchAll(absl::Span<const io::Completion> events);

  std::vector<LoopActor*> loops_;
  std::unique_ptr<io::Backend> backend_;
  const int cpu_;
  const bool shares_cpu_;
  const int64_t busy_poll_ns_;  // EngineOptions::busy_poll
  CoalescePolicy coalesce_;     // EngineOptions::coalesce
  int64_t yielded_ns_ = 0;      // time given to other threads in a window
  WaitCounters counters_;
  std::thread thread_;
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_LOOP_THREAD_H_
