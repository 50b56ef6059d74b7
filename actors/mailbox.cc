#include "actors/mailbox.h"

#include <utility>

namespace actnet {

absl::StatusOr<std::unique_ptr<Mailbox>> Mailbox::Create(
    const MailboxOptions& options) {
  if (options.ring_capacity == 0 ||
      (options.ring_capacity & (options.ring_capacity - 1)) != 0) {
    return absl::InvalidArgumentError("mailbox ring_capacity must be a power of two");
  }
  if (options.max_producers == 0) {
    return absl::InvalidArgumentError("mailbox max_producers must be at least 1");
  }
  if (options.max_producers * MpscRing::kDefaultMaxClaim >
      options.ring_capacity / 2) {
    return absl::InvalidArgumentError(
        "mailbox ring_capacity too small: need >= 2 * 32 * max_producers");
  }
  if (options.batch == 0) {
    return absl::InvalidArgumentError("mailbox batch must be positive");
  }
  absl::StatusOr<io::Waker> waker = io::Waker::Create();
  if (!waker.ok()) return waker.status();
  return std::unique_ptr<Mailbox>(new Mailbox(options, std::move(*waker)));
}

Mailbox::Mailbox(const MailboxOptions& options, io::Waker waker)
    : options_(options),
      ring_(options.ring_capacity, options.max_producers),
      waker_(std::move(waker)) {}

Mailbox::~Mailbox() {
  // The ring destroys its own leftovers; empty the foreign queue here so
  // every payload's destructor runs exactly once.
  Envelope e;
  while (foreign_.try_dequeue(e)) e.Reset();
}

absl::Status Mailbox::PushForeign(Envelope&& message) {
  // Memory ordering: seq_cst RMW before the enqueue; TryPark's load of the
  // count pairs with it (a parked consumer either sees it or is woken).
  const int64_t queued =
      foreign_count_.fetch_add(1, std::memory_order_seq_cst);
  // Memory ordering: seq_cst load after the seq_cst count; pairs with
  // CloseForeign's store of `closed_` then load of the count.
  if (closed_.load(std::memory_order_seq_cst)) {
    foreign_count_.fetch_sub(1, std::memory_order_relaxed);
    return absl::FailedPreconditionError(
        "mailbox closed: the target loop has stopped");
  }
  if (queued >= static_cast<int64_t>(options_.foreign_limit)) {
    foreign_count_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        "mailbox full: foreign-thread queue at its limit");
  }
  if (!foreign_.enqueue(std::move(message))) {
    foreign_count_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError("mailbox: out of memory");
  }
  // Memory ordering: the fence orders the enqueue before the load of
  // `sleeping` in WakeIfSleeping.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  WakeIfSleeping();
  return absl::OkStatus();
}

absl::Status Outbox::Push(Envelope&& message) {
  if (queue_.size() >= limit_) {
    return absl::ResourceExhaustedError(
        "outbox full: destination loop is not keeping up");
  }
  queue_.Push(std::move(message));
  return absl::OkStatus();
}

bool Outbox::Flush() {
  MpscRing& ring = destination_->ring();
  bool published = false;
  while (!queue_.empty()) {
    const size_t n = std::min(queue_.size(), ring.max_claim());
    const int64_t first = ring.TryClaim(n, &cached_consumer_);
    if (first < 0) break;
    for (size_t i = 0; i < n; ++i) {
      ring.Publish(first + static_cast<int64_t>(i), std::move(queue_.Front()));
      queue_.PopFront();
    }
    published = true;
  }
  // Outboxes are flushed at the end of a loop's turn, just before its
  // thread waits: the wake-up can go with that wait.
  if (published) destination_->WakeIfSleeping(/*queued=*/true);
  return queue_.empty();
}

}  // namespace actnet
