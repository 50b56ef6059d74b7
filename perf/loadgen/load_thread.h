// One load thread: its own epoll set, a share of the connections, and the
// request/echo state machine for each of them.
//
// Every connection keeps `depth` requests of `size` bytes in flight. In
// closed-loop mode (rate 0) a request is issued the moment an earlier one
// completes. In paced mode the thread issues requests on a fixed schedule
// (its share of --rate, round-robin over its connections, woken by a
// timerfd); a request that finds its connection already at `depth` waits in
// that connection's backlog, and its latency still counts from the scheduled
// time, so a slow server is not flattered (no coordinated omission). In
// paced mode a request belongs to the measured window by its scheduled time:
// after the window the thread schedules nothing more and waits up to
// `drain_ns` for the window's requests still outstanding; those that do not
// complete are recorded at their age when the wait ends (a lower bound) and
// counted as unfinished.
//
// Request m of connection c is the slice Pattern(c, m) of a shared random
// buffer; the slice start depends on both, so a lost, repeated, reordered or
// cross-connection echo fails the byte comparison.
//
// A LoadThread is created and run by one thread; its results are read after
// Run returns.
#ifndef ACTNET_PERF_LOADGEN_LOAD_THREAD_H_
#define ACTNET_PERF_LOADGEN_LOAD_THREAD_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "perf/loadgen/histogram.h"

namespace actnet::perf {

uint64_t NowNs();  // CLOCK_MONOTONIC

// The request bytes: a random buffer long enough for `size` bytes at any of
// kPatternShifts start offsets. Built once, read-only afterwards.
class Pattern {
 public:
  static constexpr uint64_t kPatternShifts = 4093;  // prime
  explicit Pattern(uint32_t size);
  const uint8_t* Request(uint32_t conn, uint64_t m) const {
    return bytes_.data() + (m * 7919 + uint64_t{conn} * 31) % kPatternShifts;
  }

 private:
  std::vector<uint8_t> bytes_;
};

struct LoadConfig {
  uint32_t size = 16;
  uint32_t depth = 1;
  bool verify = true;
  double rate = 0;  // requests/s for this thread; 0 = closed loop
  uint64_t start_ns = 0, window_start_ns = 0, end_ns = 0;
  uint64_t drain_ns = 1000000000;  // paced mode: wait for late requests
};

struct LoadResult {
  LatencyHistogram hist;       // completions inside the window
  uint64_t ops = 0;            // completions inside the window
  uint64_t verify_errors = 0;  // connections whose echo differed
  uint64_t conn_errors = 0;    // resets, early closes, surplus bytes
  uint64_t backlog_drops = 0;  // paced requests dropped: backlog full
  uint64_t scheduled = 0;      // paced: requests scheduled inside the window
  uint64_t unfinished = 0;     // paced: of those, not echoed by the drain's end
};

class LoadThread {
 public:
  LoadThread(const LoadConfig& config, const Pattern& pattern);
  ~LoadThread();
  LoadThread(const LoadThread&) = delete;
  LoadThread& operator=(const LoadThread&) = delete;

  // Takes ownership of a connected non-blocking socket. Before Run only.
  void Adopt(int fd, uint32_t id);
  // Runs until config.end_ns, then closes every connection.
  void Run();
  const LoadResult& result() const { return result_; }

 private:
  struct Conn;
  void Issue(Conn& c, uint64_t issued_at);
  void Flush(Conn& c);
  void OnReadable(Conn& c);
  bool Consume(Conn& c, const uint8_t* data, size_t n, uint64_t now);
  void Fail(Conn& c, bool verify_error);
  void SetWantOut(Conn& c, bool on);
  void OnTimer(uint64_t now);
  void IssueDue(uint64_t now);
  void ArmTimer();
  bool InWindow(uint64_t t) const { return t >= config_.window_start_ns && t < config_.end_ns; }
  void RecordUnfinished(uint64_t now);
  uint64_t Outstanding() const;

  const LoadConfig config_;
  const Pattern& pattern_;
  int epfd_ = -1;
  int timerfd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint8_t> rbuf_;
  uint64_t paced_count_ = 0;  // paced requests scheduled so far
  uint64_t next_due_ = 0;
  LoadResult result_;
};

}  // namespace actnet::perf

#endif  // ACTNET_PERF_LOADGEN_LOAD_THREAD_H_
