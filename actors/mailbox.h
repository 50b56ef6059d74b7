// Mailbox: an event loop's inbox, and Outbox, a loop's queue to another
// loop's mailbox. Three ways in, one consumer: other loops' threads through
// their outboxes into the Disruptor ring (no lock, no system call while the
// consumer is busy); any other thread through a ConcurrentQueue beside it
// (per-thread FIFO); the owning loop never (its local queue is separate).
// Memory is bounded (ring capacity, outbox and foreign-queue limits; beyond
// them the sender gets ResourceExhausted); order is FIFO per (sender,
// receiver) pair.
// Thread contract: PushForeign and WakeIfSleeping are thread-safe; the rest
// of Mailbox is the consumer's; an Outbox is its sending loop's.
#ifndef ACTNET_ACTORS_MAILBOX_H_
#define ACTNET_ACTORS_MAILBOX_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/envelope.h"
#include "actors/envelope_queue.h"
#include "actors/ring.h"
#include "actors/sequence.h"
#include "concurrentqueue/concurrentqueue.h"
#include "io/backend.h"
#include "io/waker.h"

namespace actnet {

struct MailboxOptions {
  size_t ring_capacity = 4096;   // slots, a power of two
  size_t max_producers = 1;      // loop threads that send through outboxes
  size_t batch = 256;            // messages per Drain from each source
  size_t foreign_limit = 1 << 16;  // queued messages from foreign threads
};

// Parking: a consumer with nothing to do calls TryPark(), which sets
// `sleeping` and re-checks for work; only if there is none may it block on
// wake_fd() (an eventfd, registered edge-triggered so it needs no draining).
// A producer that publishes checks `sleeping` and wakes the consumer only if
// it wins the exchange that clears it, so a busy consumer costs its
// producers no system call, and a parked one gets exactly one wake-up: an
// eventfd write, or, from a loop thread on io_uring, a MSG_RING completion
// posted with that thread's next wait (Backend::QueueWake).
class Mailbox {
 public:
  static absl::StatusOr<std::unique_ptr<Mailbox>> Create(
      const MailboxOptions& options);
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // The eventfd to watch (edge-triggered) while parked.
  int wake_fd() const { return waker_.fd(); }
  MpscRing& ring() { return ring_; }
  const MailboxOptions& options() const { return options_; }

  // Thread-safe. Enqueues from a thread that is not a loop of this engine.
  // ResourceExhausted when `foreign_limit` messages are already queued;
  // FailedPrecondition once the consumer has closed the mailbox (its loop
  // stopped). On an error the message stays with the caller.
  absl::Status PushForeign(Envelope&& message);

  // Consumer thread only, as its loop exits: refuses foreign messages from
  // now on, then runs fn(Envelope&) on every one that got in before (a
  // sender that passed the check is waited for), so none is stranded until
  // the mailbox is destroyed. Returns how many.
  template <class Fn>
  size_t CloseForeign(Fn&& fn) {
    // Memory ordering: seq_cst store then seq_cst loads of the count;
    // PushForeign raises the count (seq_cst) then loads `closed_`, so a
    // sender either sees the mailbox closed or is counted here.
    closed_.store(true, std::memory_order_seq_cst);
    size_t n = 0;
    while (foreign_count_.load(std::memory_order_seq_cst) > 0) {
      const size_t got = DrainForeign(fn);
      // A counted sender between its count and its enqueue: let it finish.
      if (got == 0) std::this_thread::yield();
      n += got;
    }
    return n;
  }

  // Thread-safe. Called by producers after publishing. `queued`: the
  // caller is a loop thread about to wait (it flushes its outboxes at the
  // end of a turn), so the wake-up may go with that wait
  // (Backend::QueueWake); otherwise, or if its backend cannot, the eventfd
  // is written at once.
  void WakeIfSleeping(bool queued = false) {
    // Memory ordering: seq_cst load, after the producer's seq_cst claim (or
    // fence); pairs with TryPark's seq_cst store then load.
    if (sleeping_.load(std::memory_order_seq_cst) &&
        sleeping_.exchange(false, std::memory_order_seq_cst)) {
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      // Only a loop thread posts through its own backend; other threads
      // never read wake_target_ (set before the loops run).
      io::Backend* mine = queued ? thread_backend_ : nullptr;
      if (mine == nullptr || wake_target_ < 0 ||
          !mine->QueueWake(wake_target_, waker_.fd())) {
        waker_.Wake();
      }
    }
  }

  // Set once, before any producer runs: what the consumer's backend can be
  // woken through besides the eventfd (Backend::WakeTarget).
  void set_wake_target(int target) { wake_target_ = target; }
  // The backend of the calling loop thread (null elsewhere), through which
  // it wakes other loops' backends.
  static void SetThreadBackend(io::Backend* backend) {
    thread_backend_ = backend;
  }

  // Consumer thread only. Runs fn(Envelope&) on up to `batch` messages from
  // the ring, then up to `batch` from foreign threads. Returns the count.
  template <class Fn>
  size_t Drain(Fn&& fn) {
    size_t n = ring_.ConsumeBatch(options_.batch, fn);
    if (foreign_count_.load(std::memory_order_relaxed) > 0) {
      n += DrainForeign(fn);
    }
    return n;
  }

  // Consumer thread only: is anything claimed or queued and not consumed?
  bool HasPending() const {
    return ring_.HasPending() ||
           foreign_count_.load(std::memory_order_seq_cst) > 0;
  }

  // Consumer thread only. Announces that the consumer is about to block;
  // returns false (and withdraws) if work arrived meanwhile.
  bool TryPark() {
    // Memory ordering: seq_cst store then seq_cst loads (in HasPending);
    // the producers do claim-then-load, so one side always sees the other.
    sleeping_.store(true, std::memory_order_seq_cst);
    if (HasPending()) {
      sleeping_.store(false, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  // Consumer thread only, after waking from the poller.
  void Unpark() { sleeping_.store(false, std::memory_order_relaxed); }

  // Number of eventfd writes so far (a benchmark counter). Thread-safe.
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  Mailbox(const MailboxOptions& options, io::Waker waker);

  template <class Fn>
  size_t DrainForeign(Fn& fn) {
    constexpr size_t kChunk = 64;
    Envelope chunk[kChunk];
    size_t total = 0;
    while (total < options_.batch) {
      const size_t want = std::min(kChunk, options_.batch - total);
      const size_t got = foreign_.try_dequeue_bulk(chunk, want);
      if (got == 0) break;
      // Memory ordering: relaxed; the count is an upper bound that producers
      // raise (seq_cst) before enqueueing.
      foreign_count_.fetch_sub(static_cast<int64_t>(got),
                               std::memory_order_relaxed);
      for (size_t i = 0; i < got; ++i) {
        fn(chunk[i]);
        chunk[i].Reset();
      }
      total += got;
      if (got < want) break;
    }
    return total;
  }

  MailboxOptions options_;
  MpscRing ring_;
  io::Waker waker_;
  int wake_target_ = -1;
  static inline thread_local io::Backend* thread_backend_ = nullptr;
  // Memory ordering: see TryPark / WakeIfSleeping.
  alignas(kFalseSharingRange) std::atomic<bool> sleeping_{false};
  alignas(kFalseSharingRange) std::atomic<int64_t> foreign_count_{0};
  std::atomic<bool> closed_{false};  // CloseForeign ran
  std::atomic<uint64_t> wakeups_{0};
  moodycamel::ConcurrentQueue<Envelope> foreign_;
};

// Outbox: messages from one loop to another loop's mailbox. Sends collect
// here and Flush() publishes them with one ring claim per up to max_claim
// messages (called at the end of each loop iteration, and every max_claim
// messages). What does not fit in a full ring waits here, and later sends
// queue behind it, so per-sender order holds and the loop never blocks.
// Loop thread only (the sending loop's).
class Outbox {
 public:
  Outbox(Mailbox* destination, size_t limit)
      : destination_(destination), limit_(limit) {}

  // ResourceExhausted when `limit` messages are already waiting.
  absl::Status Push(Envelope&& message);

  // Publishes as much as fits; wakes the destination if it is parked.
  // Returns true when nothing is left waiting.
  bool Flush();

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  Mailbox* destination() const { return destination_; }

 private:
  Mailbox* destination_;
  size_t limit_;
  EnvelopeQueue queue_;
  int64_t cached_consumer_ = 0;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_MAILBOX_H_
