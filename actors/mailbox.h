// Mailbox: an event loop's inbox, and Outbox, a loop's queue to another
// loop's mailbox. Three ways in, one consumer: each other loop through its
// own single-producer lane (lane.h: one cursor store per batch, no lock, no
// system call while the consumer is busy), made the first time that loop
// sends here; any other thread through a ConcurrentQueue beside them
// (per-thread FIFO); the owning loop never (its local queue is separate).
// Memory is bounded (lane capacity, outbox and foreign-queue limits; beyond
// them the sender gets ResourceExhausted); order is FIFO per (sender,
// receiver) pair; the consumer drains the lanes round-robin, a batch each.
// Thread contract: PushForeign and WakeIfSleeping are thread-safe; LaneFor
// is the sending loop's (for its own index); the rest of Mailbox is the
// consumer's; an Outbox is its sending loop's.
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
#include "actors/lane.h"
#include "actors/sequence.h"
#include "concurrentqueue/concurrentqueue.h"
#include "io/backend.h"
#include "io/waker.h"

namespace actnet {

struct MailboxOptions {
  size_t lane_capacity = 1024;   // slots per sending loop, a power of two
  size_t senders = 1;            // loops that may send (lane indices)
  size_t batch = 256;            // messages per Drain from each source
  size_t foreign_limit = 1 << 16;  // queued messages from foreign threads
};

// Parking: a consumer with nothing to do calls TryPark(), which sets
// `sleeping` and re-checks for work; only if there is none may it block on
// wake_fd() (an eventfd, registered edge-triggered so it needs no draining).
// A producer that publishes fences, checks `sleeping` and wakes the
// consumer only if it wins the exchange that clears it, so a busy consumer costs its
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
  const MailboxOptions& options() const { return options_; }

  // The sending loop `sender`'s lane into this mailbox, made on its first
  // call. Only that loop's thread may call it (for its own index).
  Lane* LaneFor(size_t sender) {
    ACTNET_DCHECK(sender < options_.senders);
    // Memory ordering: relaxed; only this sender ever stores its slot.
    Lane* lane = lanes_[sender].load(std::memory_order_relaxed);
    if (lane == nullptr) {
      lane = new Lane(options_.lane_capacity);
      // Memory ordering: release pairs with the consumer's loads in Drain
      // and HasPending: it sees a constructed lane.
      lanes_[sender].store(lane, std::memory_order_release);
    }
    return lane;
  }

  // Thread-safe. Enqueues from a thread that is not a loop of this engine.
  // ResourceExhausted when `foreign_limit` messages are already queued;
  // FailedPrecondition once the consumer has closed the mailbox (its loop
  // stopped). On an error the message stays with the caller.
  // `bounded` false: past the limit too (answers to requests the receiver
  // made, whose number its own sends bounded).
  absl::Status PushForeign(Envelope&& message, bool bounded = true);

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
  // each lane, starting one lane further each call (fairness), then up to
  // `batch` from foreign threads. Returns the count.
  template <class Fn>
  size_t Drain(Fn&& fn) {
    size_t n = 0;
    const size_t lanes = options_.senders;
    size_t i = first_lane_;
    for (size_t k = 0; k < lanes; ++k) {
      // Memory ordering: acquire pairs with LaneFor's release store.
      if (Lane* lane = lanes_[i].load(std::memory_order_acquire)) {
        n += lane->Consume(options_.batch, fn);
      }
      if (++i == lanes) i = 0;
    }
    if (++first_lane_ >= lanes) first_lane_ = 0;
    if (foreign_count_.load(std::memory_order_relaxed) > 0) {
      n += DrainForeign(fn);
    }
    return n;
  }

  // Consumer thread only: is anything published or queued and not consumed?
  bool HasPending() const {
    for (size_t i = 0; i < options_.senders; ++i) {
      // Memory ordering: seq_cst, the consumer half of the parking
      // handshake (with the lane's seq_cst cursor load).
      Lane* lane = lanes_[i].load(std::memory_order_seq_cst);
      if (lane != nullptr && lane->HasPending()) return true;
    }
    return foreign_count_.load(std::memory_order_seq_cst) > 0;
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
  // By sending loop; null until that loop first sends. Owned here.
  std::unique_ptr<std::atomic<Lane*>[]> lanes_;
  size_t first_lane_ = 0;  // consumer-private
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

// Outbox: messages from one loop to another loop's mailbox. A send goes
// straight into the sender's lane, unpublished, and Flush() publishes what
// was placed with one cursor store (called at the end of each loop
// iteration, and every kFlushEvery messages). What does not fit in a full
// lane waits here, and later sends queue behind it, so per-sender order
// holds and the loop never blocks.
// Loop thread only (the sending loop's).
class Outbox {
 public:
  // A backlog this long is published without waiting for the turn's end,
  // so the receiver can start on it.
  static constexpr size_t kFlushEvery = 32;

  // `sender`: the index of the loop that owns this outbox.
  Outbox(Mailbox* destination, size_t sender, size_t limit)
      : destination_(destination), sender_(sender), limit_(limit) {}

  // ResourceExhausted when `limit` messages are already waiting, unless
  // `bounded` is false (answers the receiver is owed: see PushForeign).
  absl::Status Push(Envelope&& message, bool bounded = true);

  // Builds a message straight into the lane (build(Envelope&), given an
  // empty envelope) when nothing is waiting here and the lane has room;
  // false, build not called, otherwise (then Push it).
  template <class Build>
  bool TryBuild(Build&& build) {
    Lane* lane = DirectLane();
    return lane != nullptr && lane->TryBuild(build);
  }

  // Publishes as much as fits; wakes the destination if it is parked.
  // Returns true when nothing is left waiting.
  bool Flush();

  bool empty() const { return size() == 0; }
  // Sent and not yet published: placed in the lane, or waiting here.
  size_t size() const {
    return queue_.size() + (lane_ != nullptr ? lane_->placed() : 0);
  }
  Mailbox* destination() const { return destination_; }

 private:
  // The lane, made on first use, when nothing waits here (a send may go
  // straight in without passing what is queued); else null.
  Lane* DirectLane() {
    if (!queue_.empty()) return nullptr;
    if (lane_ == nullptr) lane_ = destination_->LaneFor(sender_);
    return lane_;
  }

  Mailbox* destination_;
  size_t sender_;
  Lane* lane_ = nullptr;  // made on the first Push
  size_t limit_;
  EnvelopeQueue queue_;
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_MAILBOX_H_
