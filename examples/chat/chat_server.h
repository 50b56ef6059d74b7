// Line-based chat on actnet: every line a client sends reaches every other
// connected client, whichever loop serves it.
//
// Each loop runs one Room actor, registered under the name RoomName(loop),
// that knows the connections of its own loop. A connection finds its
// loop's room by name and joins it when it opens; the room watches it, so
// a member that closes leaves by itself (Terminated). Each line goes to the
// sender's room, which writes it to its local members and passes it on to
// every other room, found by name once. FIFO per (sender, receiver) pair
// keeps each sender's lines in order everywhere. A member whose queued
// output passes `max_outbound` (it does not read) is closed; the others
// never wait for it.
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
// A line said on this room's loop (`relay`: pass it to the other rooms)
// or relayed from another room.
struct Line {
  ActorRef from;
  std::shared_ptr<const std::string> text;  // "guest<id>: ...\n", shared
  bool relay = false;
};

// The name a loop's room is registered under.
std::string RoomName(uint32_t loop);

class Room final : public Receives<Join, Line, Terminated> {
 public:
  Room(size_t max_outbound, int loops)
      : max_outbound_(max_outbound), loops_(loops) {}

  void On(Join& join) override;
  void On(Line& line) override;
  void On(Terminated& gone) override;

 private:
  // Writes to a local member; false if it is gone or over its limit.
  bool Deliver(EventLoop& loop, const ActorRef& member, absl::string_view text);
  // The other loops' rooms, looked up by name on first use.
  const std::vector<Ref<Room>>& Peers();

  const size_t max_outbound_;
  const int loops_;
  std::vector<ActorRef> members_;
  std::vector<Ref<Room>> peers_;
};

class Server {
 public:
  // Spawns and names one room per loop of `engine`, which must not have
  // started.
  Server(Engine& engine, ChatOptions options = {});
  absl::Status Listen(absl::string_view url);

  const ChatOptions& options() const { return options_; }
  // Thread-safe.
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  Engine& engine_;
  ChatOptions options_;
  absl::Status status_;  // of naming the rooms
  // Memory ordering: relaxed; only uniqueness matters.
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace actnet::chat

#endif  // ACTNET_EXAMPLES_CHAT_CHAT_SERVER_H_
