// Wake-up coalescing for an event loop that is about to block.
//
// A loop that blocks in epoll_wait is woken by the first event that
// arrives, and the waking is paid for by whoever caused the event: a peer
// process whose send readies one of our sockets pays the scheduler work and
// the inter-processor interrupt. Under load from many connections that
// means one wake-up, one epoll_wait and one context switch per request or
// two. Coalescing trades a bounded delay for batching: the loop first
// sleeps for a short window *without* being an epoll waiter (so the events
// of that window cost their senders nothing extra), then takes everything
// that arrived in one zero-timeout poll. Only if that poll is empty does it
// block as usual, so an idle loop still sleeps until the next event.
//
// The window only pays when it gathers several events. CoalescePolicy keeps
// it on while windows gather two or more events and backs off
// exponentially (skipping up to kMaxBackoff blocking waits) while they
// gather one or none: a single request/response connection, or a loop that
// is idle between sporadic events, soon goes back to blocking at once and
// only probes now and then.
#ifndef ACTNET_ACTORS_COALESCE_H_
#define ACTNET_ACTORS_COALESCE_H_

#include <algorithm>
#include <cstdint>

namespace actnet {

class CoalescePolicy {
 public:
  static constexpr uint32_t kMaxBackoff = 256;
  // A poll that finds fewer events ready than this is a trickle: the loop
  // sleeps the window before handling them. More, and it takes them at once.
  static constexpr int kTrickle = 4;

  // window_ns <= 0 disables coalescing.
  explicit CoalescePolicy(int64_t window_ns) : window_ns_(window_ns) {}

  int64_t window_ns() const { return window_ns_; }

  // Called each time the loop would block: true means sleep window_ns(),
  // poll with a zero timeout, and report the result to Gathered().
  bool ShouldCoalesce() {
    if (window_ns_ <= 0) return false;
    if (skip_ > 0) {
      --skip_;
      return false;
    }
    return true;
  }

  // The number of events the zero-timeout poll after a window returned.
  void Gathered(int events) {
    if (events >= 2) {
      backoff_ = 0;
      return;
    }
    backoff_ = backoff_ == 0 ? 1 : std::min(backoff_ * 2, kMaxBackoff);
    skip_ = backoff_;
  }

  // Blocking waits that will be skipped before the next window.
  uint32_t skip() const { return skip_; }

 private:
  const int64_t window_ns_;
  uint32_t skip_ = 0;
  uint32_t backoff_ = 0;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_COALESCE_H_
