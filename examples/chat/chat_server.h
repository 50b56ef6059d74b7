// Line-based chat on actnet: every line a client sends reaches every other
// connected client, whichever loop serves it.
//
// Each loop runs one Room actor that knows the connections of its own loop.
// A connection joins its loop's room when it opens and leaves when it
// closes; each line it sends is told to every loop's room, which writes it
// to its local members. FIFO per (sender, receiver) pair keeps each
// sender's lines in order everywhere. A member whose queued output passes
// `max_outbound` (it does not read) is closed; the others never wait for it.
//
// Threads: Server is configured on the controlling thread before Start;
// rooms and handlers then run on their loops only.
#ifndef ACTNET_EXAMPLES_CHAT_CHAT_SERVER_H_
#define ACTNET_EXAMPLES_CHAT_CHAT_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "actnet.h"

namespace actnet::chat {

struct ChatOptions {
  size_t max_line = 64 * 1024;        // longer: an error line, then close
  size_t max_outbound = 1024 * 1024;  // queued output beyond: disconnect
};

// Messages to a room.
struct Join {
  ActorRef member;
  uint64_t id;  // the member's name is "guest<id>"
};
struct Leave {
  ActorRef member;
};
struct Line {
  ActorRef from;
  std::shared_ptr<const std::string> text;  // "guest<id>: ...\n", shared
};

class Room final : public Actor {
 public:
  explicit Room(size_t max_outbound) : max_outbound_(max_outbound) {}
  void Receive(Envelope& message) override;

 private:
  // Writes to a local member; false if it is gone or over its limit.
  bool Deliver(EventLoop& loop, const ActorRef& member, absl::string_view text);

  const size_t max_outbound_;
  std::vector<ActorRef> members_;
};

class Server {
 public:
  // Spawns one room per loop of `engine`, which must not have started.
  Server(Engine& engine, ChatOptions options = {});
  absl::Status Listen(absl::string_view url);

  const ChatOptions& options() const { return options_; }
  const std::vector<ActorRef>& rooms() const { return rooms_; }
  // Thread-safe.
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  Engine& engine_;
  ChatOptions options_;
  std::vector<ActorRef> rooms_;  // by loop; fixed before Start
  // Memory ordering: relaxed; only uniqueness matters.
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace actnet::chat

#endif  // ACTNET_EXAMPLES_CHAT_CHAT_SERVER_H_
