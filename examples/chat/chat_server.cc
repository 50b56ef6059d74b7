#include "examples/chat/chat_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace actnet::chat {
namespace {

class ChatHandler final : public Handler {
 public:
  explicit ChatHandler(Server* server) : server_(server) {}

  Action OnOpen(Conn& conn) override {
    id_ = server_->NextId();
    absl::StatusOr<Ref<Room>> room =
        conn.loop().engine().Whereis<Room>(RoomName(conn.loop().index()));
    if (!room.ok()) return Action::kClose;  // the loop is stopping
    room_ = *room;
    (void)conn.loop().engine().Tell(room_, Join{conn.ref(), id_});
    return Action::kNone;
  }

  Action OnData(Conn& conn) override {
    const absl::string_view in = conn.Peek();
    const size_t max_line = server_->options().max_line;
    size_t start = 0;
    for (;;) {
      const size_t nl = in.find('\n', std::max(start, scanned_));
      if (nl == absl::string_view::npos) break;
      absl::string_view line = in.substr(start, nl - start);
      if (line.size() > max_line) return TooLong(conn);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) Broadcast(conn, line);
      start = nl + 1;
    }
    conn.Discard(start);
    scanned_ = in.size() - start;  // no newline in what is left
    if (scanned_ > max_line) return TooLong(conn);
    return Action::kNone;
  }

 private:
  void Broadcast(Conn& conn, absl::string_view line) {
    // One copy of the text, shared by every room's message.
    auto text = std::make_shared<const std::string>(
        absl::StrCat("guest", id_, ": ", line, "\n"));
    (void)conn.loop().engine().Tell(room_, Line{conn.ref(), std::move(text), true});
  }

  Action TooLong(Conn& conn) {
    conn.Write(absl::StrCat("* error: line longer than ",
                            server_->options().max_line, " bytes\n"));
    return Action::kClose;
  }

  Server* server_;
  Ref<Room> room_;
  uint64_t id_ = 0;
  size_t scanned_ = 0;  // buffered bytes already searched for a newline
};

}  // namespace

std::string RoomName(uint32_t loop) { return absl::StrCat("chat.room.", loop); }

void Room::On(Line& line) {
  EventLoop& loop = this->loop();
  for (size_t i = 0; i < members_.size();) {
    if (members_[i] != line.from && !Deliver(loop, members_[i], *line.text)) {
      members_[i] = members_.back();  // order of members does not matter
      members_.pop_back();
      continue;
    }
    ++i;
  }
  if (!line.relay) return;
  for (const Ref<Room>& peer : Peers()) {
    (void)Tell(peer, Line{line.from, line.text, false});
  }
}

void Room::On(Join& join) {
  // Written here, after the join, so a client that has read its welcome
  // knows it will get every line sent from then on.
  if (Deliver(loop(), join.member,
              absl::StrCat("* welcome, you are guest", join.id, "\n"))) {
    members_.push_back(join.member);
    (void)Watch(join.member);  // its Terminated takes it out
  }
}

void Room::On(Terminated& gone) {
  members_.erase(std::remove(members_.begin(), members_.end(), gone.ref),
                 members_.end());
}

const std::vector<Ref<Room>>& Room::Peers() {
  if (peers_.empty()) {
    Engine& engine = loop().engine();
    for (int i = 0; i < loops_; ++i) {
      if (static_cast<uint32_t>(i) == self().loop) continue;
      absl::StatusOr<Ref<Room>> peer =
          engine.Whereis<Room>(RoomName(static_cast<uint32_t>(i)));
      if (peer.ok()) peers_.push_back(*peer);
    }
  }
  return peers_;
}

bool Room::Deliver(EventLoop& loop, const ActorRef& member,
                   absl::string_view text) {
  Conn* conn = loop.FindConn(member);
  if (conn == nullptr || conn->closing()) return false;
  conn->Write(text);
  if (conn->OutboundBytes() <= max_outbound_) return true;
  // Writes made here go out at the end of the loop iteration; try the
  // socket now, so only a client whose kernel buffer is full too counts.
  conn->Flush();
  if (conn->closing()) return false;
  if (conn->OutboundBytes() <= max_outbound_) return true;
  conn->Close();  // drops it from the room; the others never wait for it
  return false;
}

Server::Server(Engine& engine, ChatOptions options)
    : engine_(engine), options_(options) {
  const int loops = engine.options().loops;
  for (int i = 0; i < loops; ++i) {
    const auto loop = static_cast<uint32_t>(i);
    Ref<Room> room(engine.Spawn(
        loop, std::make_unique<Room>(options.max_outbound, loops)));
    absl::Status s = engine.Register(RoomName(loop), room);
    if (status_.ok()) status_ = s;
  }
}

absl::Status Server::Listen(absl::string_view url) {
  if (!status_.ok()) return status_;  // a room could not be named
  return engine_.Listen(url, [this]() -> std::unique_ptr<Handler> {
    return std::make_unique<ChatHandler>(this);
  });
}

}  // namespace actnet::chat
