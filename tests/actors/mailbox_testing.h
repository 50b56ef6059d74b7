// What the mailbox and lane tests share: a message that carries its sender
// and sequence number, a mailbox made from a few options, a per-sender
// FIFO check for the consumer side, and flushing an outbox to the end.
// Test code only; each piece belongs to the thread that uses it.
#ifndef ACTNET_TESTS_ACTORS_MAILBOX_TESTING_H_
#define ACTNET_TESTS_ACTORS_MAILBOX_TESTING_H_

#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "actors/envelope.h"
#include "actors/mailbox.h"
#include "doctest/doctest.h"

namespace actnet::testing {

struct Msg {
  uint64_t sender;
  uint64_t seq;
};

inline constexpr MessageTarget kTarget{1, 1};

inline Envelope MakeMsg(uint64_t sender, uint64_t seq) {
  return Envelope::Make<Msg>(kTarget, Msg{sender, seq});
}

// A mailbox with these options (REQUIREs that they are valid); the defaults
// are MailboxOptions'.
inline std::unique_ptr<Mailbox> MakeMailbox(size_t lane_capacity,
                                            size_t foreign_limit = 1 << 16,
                                            size_t senders = 1,
                                            size_t batch = 256) {
  MailboxOptions options;
  options.lane_capacity = lane_capacity;
  options.foreign_limit = foreign_limit;
  options.senders = senders;
  options.batch = batch;
  auto mailbox = Mailbox::Create(options);
  REQUIRE(mailbox.ok());
  return std::move(*mailbox);
}

// Checks FIFO order per sender: sender s's messages carry 0, 1, 2, ...
struct OrderChecker {
  explicit OrderChecker(size_t senders) : next(senders, 0) {}
  void operator()(Envelope& e) {
    const Msg* m = e.As<Msg>();
    if (m == nullptr || m->sender >= next.size() || m->seq != next[m->sender]) {
      ++errors;
      return;
    }
    ++next[m->sender];
    ++received;
  }
  std::vector<uint64_t> next;
  uint64_t received = 0;
  uint64_t errors = 0;
};

// Flushes until the outbox is empty, yielding while the lane is full.
inline void FlushAll(Outbox& outbox) {
  while (!outbox.Flush()) std::this_thread::yield();
}

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_ACTORS_MAILBOX_TESTING_H_
