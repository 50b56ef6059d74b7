#include "actors/mailbox.h"

#include <utility>

namespace actnet {

absl::StatusOr<std::unique_ptr<Mailbox>> Mailbox::Create(
    const MailboxOptions& options) {
  if (options.lane_capacity < 2 ||
      (options.lane_capacity & (options.lane_capacity - 1)) != 0) {
    return absl::InvalidArgumentError(
        "mailbox lane capacity must be a power of two, at least 2");
  }
  if (options.senders == 0) {
    return absl::InvalidArgumentError("mailbox senders must be at least 1");
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
      lanes_(new std::atomic<Lane*>[options.senders]),
      waker_(std::move(waker)) {
  for (size_t i = 0; i < options.senders; ++i) {
    lanes_[i].store(nullptr, std::memory_order_relaxed);
  }
}

Mailbox::~Mailbox() {
  // Every thread is done with the mailbox. Lanes destroy their leftovers;
  // the foreign queue is emptied here so every payload's destructor runs
  // exactly once.
  for (size_t i = 0; i < options_.senders; ++i) {
    delete lanes_[i].load(std::memory_order_acquire);
  }
  Envelope e;
  while (foreign_.try_dequeue(e)) e.Reset();
}

absl::Status Mailbox::PushForeign(Envelope&& message, bool bounded) {
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
  if (bounded && queued >= static_cast<int64_t>(options_.foreign_limit)) {
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

absl::Status Outbox::Push(Envelope&& message, bool bounded) {
  // Nothing waiting: straight into the lane (published at the next Flush).
  if (Lane* lane = DirectLane(); lane != nullptr && lane->TryPlace(message)) {
    return absl::OkStatus();
  }
  if (bounded && queue_.size() >= limit_) {
    return absl::ResourceExhaustedError(
        "outbox full: destination loop is not keeping up");
  }
  queue_.Push(std::move(message));
  return absl::OkStatus();
}

bool Outbox::Flush() {
  if (lane_ == nullptr) return true;  // nothing was ever pushed
  if (lane_->Publish(queue_) != 0) {
    // Memory ordering: orders the cursor store before the load of
    // `sleeping` in WakeIfSleeping; pairs with TryPark (store `sleeping`,
    // then load the cursors).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Outboxes are flushed at the end of a loop's turn, just before its
    // thread waits: the wake-up can go with that wait.
    destination_->WakeIfSleeping(/*queued=*/true);
  }
  return queue_.empty();
}

}  // namespace actnet
