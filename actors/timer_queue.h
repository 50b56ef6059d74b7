// TimerQueue: a loop's timers, a binary min-heap of (deadline, callback).
// Timers are not cancelled; a callback that may outlive its subject checks
// a generation (an ActorRef, a ticker number) when it fires. Ties fire in
// the order they were scheduled. Loop thread only.
#ifndef ACTNET_ACTORS_TIMER_QUEUE_H_
#define ACTNET_ACTORS_TIMER_QUEUE_H_

#include <chrono>
#include <cstdint>
#include <queue>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace actnet {

namespace internal {
// The monotonic clock timer deadlines are on, in nanoseconds.
inline int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace internal

class TimerQueue {
 public:
  using Callback = absl::AnyInvocable<void()>;

  void Schedule(int64_t deadline_ns, Callback fn) {
    heap_.push(Timer{deadline_ns, next_seq_++, std::move(fn)});
  }
  bool empty() const { return heap_.empty(); }
  // The earliest deadline; precondition: !empty().
  int64_t NextDeadline() const { return heap_.top().deadline_ns; }

  // Runs every timer due at `now_ns` (including ones that the callbacks
  // schedule for a time already due, up to a bound so a zero-interval
  // ticker cannot starve the loop). Returns how many ran.
  size_t RunDue(int64_t now_ns, size_t max = 1024) {
    size_t ran = 0;
    while (!heap_.empty() && heap_.top().deadline_ns <= now_ns && ran < max) {
      // priority_queue::top is const; the callback is moved out through a
      // const_cast, which is safe because the element is popped right away.
      Callback fn = std::move(const_cast<Timer&>(heap_.top()).fn);
      heap_.pop();
      fn();
      ++ran;
    }
    return ran;
  }

  void Clear() {
    while (!heap_.empty()) heap_.pop();
  }
  size_t size() const { return heap_.size(); }

 private:
  struct Timer {
    int64_t deadline_ns;
    uint64_t seq;
    Callback fn;
    bool operator>(const Timer& o) const {
      return deadline_ns != o.deadline_ns ? deadline_ns > o.deadline_ns
                                          : seq > o.seq;
    }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_TIMER_QUEUE_H_
