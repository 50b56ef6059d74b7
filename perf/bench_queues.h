// The queues the mailbox benchmark compares, behind one shape so a single
// timed runner drives them all. Every queue carries actnet Envelopes (the
// unit a loop sends), so only the transport differs.
//
//   Q q(producers);
//   Q::Producer p(q, index, flow);   // one per producer thread
//   p.Send(Envelope&&); p.Finish();  // Finish flushes a partial batch
//   q.Consume(fn) -> count;          // the single consumer, one batch
//
// The actnet lanes and spsc-ref are bounded by their slots (Capacity()).
// The other queues are unbounded, so their producers are held to as many
// messages in flight each by `Flow` (a copy of the consumer's per-producer
// count, re-read only when it says full, like a lane's cached consumer
// position): a fair bound that keeps memory flat when a producer outruns
// the consumer.
#ifndef ACTNET_PERF_BENCH_QUEUES_H_
#define ACTNET_PERF_BENCH_QUEUES_H_

#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/functional/function_ref.h"
#include "actors/check.h"
#include "actors/envelope.h"
#include "actors/mailbox.h"
#include "actors/sequence.h"
#include "concurrentqueue/concurrentqueue.h"
#include "perf/bench_support.h"

namespace actnet::bench {

// Slots of a lane and of spsc-ref, and the in-flight bound of the
// unbounded queues' producers: one number for all (--capacity; the
// default is EngineOptions::mailbox_capacity). A power of two.
inline size_t g_capacity = 1024;
inline size_t Capacity() { return g_capacity; }
inline constexpr size_t kConsumeBatch = 256;
// A loop publishes its outbox every Outbox::kFlushEvery sends (and at the
// end of its turn); every batching queue here sends in runs of as many.
inline constexpr size_t kSendBatch = Outbox::kFlushEvery;

// Holds one producer of an unbounded queue to Capacity() messages in flight.
class Flow {
 public:
  explicit Flow(const PaddedCounter* received) : received_(received) {}
  void BeforeSend(Backoff& backoff) {
    while (sent_ - cached_ >= Capacity()) {
      cached_ = received_->value.load(std::memory_order_acquire);
      if (sent_ - cached_ >= Capacity()) backoff.Wait();
    }
    ++sent_;
  }

 private:
  const PaddedCounter* received_;
  uint64_t sent_ = 0;
  uint64_t cached_ = 0;
};

// A mailbox with one lane per producer (sender indices 0..producers-1).
inline std::unique_ptr<Mailbox> NewMailbox(size_t producers) {
  MailboxOptions options;
  options.lane_capacity = Capacity();
  options.senders = producers;
  options.batch = kConsumeBatch;
  return std::move(*Mailbox::Create(options));
}

// actnet loop-to-loop: each producer is a sending loop with its own Outbox
// and sender index, so its own lane; a send, and Flush every 32 (one cursor
// store, a fence and a check of the consumer's `sleeping` flag per flush).
// kBuildInSlot: the send is a loop's typed Tell (Engine::SendBuilt): the
// message is built through a FunctionRef straight into the lane's next
// slot when nothing waits in the outbox and the lane has room ("lane-flush").
// Otherwise the message is built by the caller and pushed, as Engine::Send
// of an Envelope does ("lane-push"). A loop never waits for room; here a
// producer whose lane is full retries the flush, as the unbounded queues'
// producers wait for their Flow.
template <bool kBuildInSlot>
struct LaneCase {
  static constexpr bool kBounded = true;
  explicit LaneCase(size_t producers) : mailbox(NewMailbox(producers)) {}
  struct Producer {
    Producer(LaneCase& q, size_t index, Flow*)
        : outbox(q.mailbox.get(), index, 1 << 16) {}
    void Send(Envelope&& e) {
      (void)outbox.Push(std::move(e));
      if (outbox.size() >= kSendBatch) Finish();
    }
    // build(Envelope&) constructs the message in the empty envelope given.
    // Only lane-flush has it; the runner sends lane-push's through Send.
    template <class Build>
      requires kBuildInSlot
    void SendBuilt(Build&& build) {
      const absl::FunctionRef<void(Envelope&)> ref(build);
      if (!outbox.TryBuild(ref)) {
        Envelope e;
        ref(e);
        (void)outbox.Push(std::move(e));
      }
      if (outbox.size() >= kSendBatch) Finish();
    }
    void Finish() {
      while (!outbox.Flush()) backoff.Wait();
      backoff.Reset();
    }
    Outbox outbox;
    Backoff backoff;
  };
  template <class Fn>
  size_t Consume(Fn&& fn) {
    return mailbox->Drain(fn);
  }
  std::unique_ptr<Mailbox> mailbox;
};
using LaneFlush = LaneCase<true>;
using LanePush = LaneCase<false>;

// moodycamel::ConcurrentQueue; kTokens: producer/consumer tokens; kBulk:
// enqueue_bulk of 32 / try_dequeue_bulk of 256, else one at a time.
template <bool kTokens, bool kBulk>
struct ConcurrentQueueCase {
  static constexpr bool kBounded = false;
  using Queue = moodycamel::ConcurrentQueue<Envelope>;
  explicit ConcurrentQueueCase(size_t producers)
      : queue(Capacity() * producers), consumer_token(queue) {}

  struct Producer {
    Producer(ConcurrentQueueCase& q, size_t, Flow* flow)
        : queue(&q.queue), token(q.queue), flow(flow) {}
    void Send(Envelope&& e) {
      flow->BeforeSend(backoff);
      if constexpr (kBulk) {
        batch[n++] = std::move(e);
        if (n == kSendBatch) Finish();
      } else if constexpr (kTokens) {
        queue->enqueue(token, std::move(e));
      } else {
        queue->enqueue(std::move(e));
      }
    }
    void Finish() {
      if constexpr (kBulk) {
        if (n == 0) return;
        auto first = std::make_move_iterator(batch);
        if constexpr (kTokens) {
          queue->enqueue_bulk(token, first, n);
        } else {
          queue->enqueue_bulk(first, n);
        }
        n = 0;
      }
    }
    Queue* queue;
    moodycamel::ProducerToken token;
    Flow* flow;
    Backoff backoff;
    Envelope batch[kSendBatch];
    size_t n = 0;
  };

  template <class Fn>
  size_t Consume(Fn&& fn) {
    if constexpr (kBulk) {
      const size_t got =
          kTokens ? queue.try_dequeue_bulk(consumer_token, buffer, kConsumeBatch)
                  : queue.try_dequeue_bulk(buffer, kConsumeBatch);
      for (size_t i = 0; i < got; ++i) {
        fn(buffer[i]);
        buffer[i].Reset();
      }
      return got;
    } else {
      size_t got = 0;
      Envelope e;
      while (got < kConsumeBatch &&
             (kTokens ? queue.try_dequeue(consumer_token, e)
                      : queue.try_dequeue(e))) {
        fn(e);
        e.Reset();
        ++got;
      }
      return got;
    }
  }

  Queue queue;
  moodycamel::ConsumerToken consumer_token;
  Envelope buffer[kConsumeBatch];
};

// Reference, not a mailbox: the least a queue of 64-byte envelopes can do
// between two threads. One producer writes envelopes straight into a ring
// and stores a published count once per 32; the consumer reads that count
// once per batch and no slot header at all. No wake-up protocol, no outbox
// staging. A lane is this plus the outbox's bookkeeping and the wake-up
// check per flush. What it reaches in a run bounds every design that
// moves one cache line per message on that run's placement of the vCPUs.
struct SpscReference {
  static constexpr bool kBounded = true;
  explicit SpscReference(size_t producers)
      : mask(Capacity() - 1), slots(new Envelope[Capacity()]) {
    ACTNET_CHECK_MSG(producers == 1, "SpscReference has one producer");
  }
  struct Producer {
    Producer(SpscReference& q, size_t, Flow*) : q(&q) {}
    void Send(Envelope&& e) {
      if (next == end) {
        Finish();
        const int64_t slots = static_cast<int64_t>(q->mask + 1);
        while (next + int64_t{kSendBatch} - cached > slots) {
          // Memory ordering: acquire pairs with the consumer's release
          // store: slots below it have been read and reset.
          cached = q->consumed.Load(std::memory_order_acquire);
          if (next + int64_t{kSendBatch} - cached > slots) {
            backoff.Wait();
          }
        }
        backoff.Reset();
        end = next + int64_t{kSendBatch};
      }
      q->slots[next++ & q->mask] = std::move(e);
    }
    void Finish() {
      // Memory ordering: release publishes the slots written before it.
      if (next != published) q->published.Store(published = next);
    }
    SpscReference* q;
    int64_t next = 0, end = 0, published = 0, cached = 0;
    Backoff backoff;
  };
  template <class Fn>
  size_t Consume(Fn&& fn) {
    // Memory ordering: acquire pairs with Producer::Finish's release.
    if (next == available) available = published.Load(std::memory_order_acquire);
    size_t n = 0;
    for (; next < available && n < kConsumeBatch; ++next, ++n) {
      Envelope& e = slots[next & mask];
      fn(e);
      e.Reset();
    }
    if (n != 0) consumed.Store(next, std::memory_order_release);
    return n;
  }
  const int64_t mask;  // slots - 1
  Sequence published{0};
  Sequence consumed{0};
  alignas(kFalseSharingRange) int64_t next = 0;
  int64_t available = 0;
  std::unique_ptr<Envelope[]> slots;
};

// std::mutex + std::deque: one lock per message for producers; the
// consumer takes up to 256 under one lock.
struct MutexDeque {
  static constexpr bool kBounded = false;
  explicit MutexDeque(size_t) {}
  struct Producer {
    Producer(MutexDeque& q, size_t, Flow* flow) : q(&q), flow(flow) {}
    void Send(Envelope&& e) {
      flow->BeforeSend(backoff);
      std::lock_guard<std::mutex> lock(q->mutex);
      q->deque.push_back(std::move(e));
    }
    void Finish() {}
    MutexDeque* q;
    Flow* flow;
    Backoff backoff;
  };
  template <class Fn>
  size_t Consume(Fn&& fn) {
    size_t got = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      while (got < kConsumeBatch && !deque.empty()) {
        buffer[got++] = std::move(deque.front());
        deque.pop_front();
      }
    }
    for (size_t i = 0; i < got; ++i) {
      fn(buffer[i]);
      buffer[i].Reset();
    }
    return got;
  }
  std::mutex mutex;
  std::deque<Envelope> deque;
  Envelope buffer[kConsumeBatch];
};

}  // namespace actnet::bench

#endif  // ACTNET_PERF_BENCH_QUEUES_H_
