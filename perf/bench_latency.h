// Two benchmarks of the mailbox that are not about throughput:
//  - ping-pong: two threads bounce one message; round-trip time samples for
//    a pair of actnet lanes (each side a loop whose turn sends one message:
//    Push, then the end-of-turn Flush) and for a pair of moodycamel queues
//    (tokens), both consumers busy-polling;
//  - sleeping consumer: a consumer that parks (TryPark + epoll_wait on the
//    mailbox's eventfd, edge-triggered) when it finds nothing; counts the
//    producers' eventfd writes (Mailbox::wakeups()) per message.
#ifndef ACTNET_PERF_BENCH_LATENCY_H_
#define ACTNET_PERF_BENCH_LATENCY_H_

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "actors/envelope.h"
#include "actors/mailbox.h"
#include "concurrentqueue/concurrentqueue.h"
#include "perf/bench_queues.h"
#include "perf/bench_support.h"

namespace actnet::bench {

struct Ping {
  uint64_t seq;
  uint64_t pad;
};

// One direction of a pair of actnet loops: the sender's Outbox into the
// receiver's lane (Push, then Flush as the sender's turn ends: one cursor
// store, the fence and the `sleeping` check), Mailbox::Drain to receive.
struct LaneLink {
  LaneLink() : mailbox(NewMailbox(1)), outbox(mailbox.get(), 0, 1 << 16) {}
  void Send(Envelope&& e) {
    (void)outbox.Push(std::move(e));
    while (!outbox.Flush()) _mm_pause();
  }
  template <class Fn>
  size_t Receive(Fn&& fn) {
    return mailbox->Drain(fn);
  }
  std::unique_ptr<Mailbox> mailbox;
  Outbox outbox;
};

// A moodycamel queue with one producer token and one consumer token.
struct QueueLink {
  QueueLink() : producer(queue), consumer(queue) {}
  void Send(Envelope&& e) { queue.enqueue(producer, std::move(e)); }
  template <class Fn>
  size_t Receive(Fn&& fn) {
    Envelope e;
    if (!queue.try_dequeue(consumer, e)) return 0;
    fn(e);
    return 1;
  }
  moodycamel::ConcurrentQueue<Envelope> queue;
  moodycamel::ProducerToken producer;
  moodycamel::ConsumerToken consumer;
};

// Returns round-trip times in nanoseconds, sorted. Thread A on CPU 0 sends
// and waits for the echo; thread B on CPU 1 echoes.
template <class Link>
std::vector<uint32_t> RunPingPong(std::chrono::microseconds duration) {
  Link to_b, to_a;
  RunControl control(2);
  std::atomic<bool> a_done{false};
  std::vector<uint32_t> rtt;
  rtt.reserve(1 << 22);
  std::thread a([&] {
    PinTo(0);
    control.ArriveAndWait();
    uint64_t seq = 0;
    while (!control.stop()) {
      const Clock::time_point t0 = Clock::now();
      to_b.Send(Envelope::Make<Ping>(MessageTarget{}, Ping{seq++, 0}));
      while (to_a.Receive([](Envelope&) {}) == 0) _mm_pause();
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          Clock::now() - t0)
                          .count();
      rtt.push_back(static_cast<uint32_t>(ns));
    }
    a_done.store(true, std::memory_order_release);
  });
  std::thread b([&] {
    PinTo(1);
    control.ArriveAndWait();
    while (true) {
      const size_t n = to_b.Receive([&](Envelope& e) {
        to_a.Send(std::move(e));
      });
      if (n == 0) {
        if (a_done.load(std::memory_order_acquire)) break;
        _mm_pause();
      }
    }
  });
  control.StartAndStopAfter(duration);
  a.join();
  b.join();
  std::sort(rtt.begin(), rtt.end());
  return rtt;
}

// Blocks on an eventfd registered edge-triggered, with no timeout.
class EpollParker {
 public:
  explicit EpollParker(int fd) : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  ~EpollParker() { ::close(epoll_fd_); }
  void Wait() {
    epoll_event ev;
    while (::epoll_wait(epoll_fd_, &ev, 1, -1) < 0 && errno == EINTR) {
    }
  }

 private:
  int epoll_fd_;
};

struct SleepResult {
  double messages = 0;
  double wakeups = 0;  // eventfd writes
  double parks = 0;
  double seconds = 0;
};

// One producer (an Outbox: Push x32 then Flush) and a consumer that, when
// Drain finds nothing, keeps polling for `spin` and then parks. With
// `gap`, the producer pauses (busy, off the mailbox) after each batch.
inline SleepResult RunSleepingConsumer(std::chrono::microseconds duration,
                                       std::chrono::microseconds spin,
                                       std::chrono::microseconds gap) {
  std::unique_ptr<Mailbox> mailbox = NewMailbox(1);
  RunControl control(2);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> sent_total{0};
  uint64_t received = 0, parks = 0;
  Clock::time_point end;
  std::thread producer([&] {
    PinTo(0);
    Outbox outbox(mailbox.get(), 0, 1 << 16);
    control.ArriveAndWait();
    uint64_t seq = 0;
    while (!control.stop()) {
      for (size_t i = 0; i < kSendBatch; ++i) {
        (void)outbox.Push(Envelope::Make<Ping>(MessageTarget{}, Ping{seq++, 0}));
      }
      while (!outbox.Flush()) _mm_pause();
      if (gap.count() > 0) {
        const Clock::time_point until = Clock::now() + gap;
        while (Clock::now() < until) _mm_pause();
      }
    }
    sent_total.store(seq, std::memory_order_relaxed);
    // Memory ordering: seq_cst store then seq_cst load of `sleeping` (in
    // WakeIfSleeping); the consumer does TryPark (seq_cst) then loads
    // `done`: one of the two sees the other.
    done.store(true, std::memory_order_seq_cst);
    mailbox->WakeIfSleeping();
  });
  std::thread consumer([&] {
    PinTo(1);
    EpollParker parker(mailbox->wake_fd());
    control.ArriveAndWait();
    Clock::time_point idle_since;
    bool idle = false;
    while (true) {
      const size_t n = mailbox->Drain([](Envelope&) {});
      received += n;
      if (n != 0) {
        idle = false;
        continue;
      }
      if (spin.count() > 0) {
        const Clock::time_point now = Clock::now();
        if (!idle) idle_since = now, idle = true;
        if (now - idle_since < spin) continue;
      }
      idle = false;
      if (!mailbox->TryPark()) continue;
      if (done.load(std::memory_order_seq_cst) &&
          received == sent_total.load(std::memory_order_relaxed)) {
        mailbox->Unpark();
        break;
      }
      ++parks;
      parker.Wait();
      mailbox->Unpark();
    }
    end = Clock::now();
  });
  const Clock::time_point start = control.StartAndStopAfter(duration);
  producer.join();
  consumer.join();
  SleepResult r;
  r.messages = static_cast<double>(received);
  r.wakeups = static_cast<double>(mailbox->wakeups());
  r.parks = static_cast<double>(parks);
  r.seconds = std::chrono::duration<double>(end - start).count();
  return r;
}

}  // namespace actnet::bench

#endif  // ACTNET_PERF_BENCH_LATENCY_H_
