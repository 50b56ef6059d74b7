// Session: the handler of one Redis client connection.
//
// It parses requests (RespParser), numbers them, and runs each where its
// keys live: on its own loop's Shard directly, or by asking the owning
// Shard on another loop to run a Batch (see shard.h). Multi-key commands spanning
// shards are split into one part per shard and merged. Replies are written
// strictly in request order: a reply that completes early waits in a
// reorder buffer until every earlier one is written.
//
// The number of requests in flight is bounded: at the bound the session
// stops parsing and pauses reading from the socket; replies arriving (the
// Ask's callback) resume both, so bytes already buffered are never
// stranded.
//
// Loop thread only, like every Handler.
#ifndef ACTNET_EXAMPLES_REDIS_SESSION_H_
#define ACTNET_EXAMPLES_REDIS_SESSION_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "actnet.h"
#include "examples/redis/commands.h"
#include "examples/redis/resp.h"
#include "examples/redis/shard.h"

namespace actnet::redis {

struct SessionOptions {
  RespLimits limits;
  // Requests parsed but not yet answered, per connection.
  size_t max_in_flight = 1024;
};

class Session final : public Handler {
 public:
  Session(std::shared_ptr<const Cluster> cluster, SessionOptions options);

  Action OnOpen(Conn& conn) override;
  Action OnData(Conn& conn) override;
  // A client that sends its last requests and shuts down its side still
  // gets every reply: the connection stays half-open until the replies
  // from other shards are in and written.
  Action OnPeerClosed(Conn& conn) override;

 private:
  // A request whose reply is not written yet.
  struct Pending {
    bool done = false;
    Merge merge = Merge::kNone;
    uint32_t parts_left = 0;
    int64_t sum = 0;
    std::string reply;
    std::vector<std::vector<uint32_t>> part_keys;  // kArray: keys per part
    std::vector<std::string> elems;                // kArray: by key index
  };

  // Parses and dispatches buffered requests up to the in-flight bound.
  void Pump(Conn& conn);
  void Dispatch(Args args);
  // INFO, which needs the engine rather than a keyspace.
  void AppendInfo(Args args, std::string* out);
  void DispatchMultiKey(const CommandSpec& spec, Args args);
  void DispatchAll(const CommandSpec& spec, Args args);
  // Where a reply produced right now goes: straight to the output if
  // nothing is waiting, else a completed entry in the reorder buffer.
  std::string* ImmediateReply();
  // A new entry in the reorder buffer; returns its sequence number.
  uint64_t NewPending(Merge merge, uint32_t parts);
  void SendRemote(uint32_t shard, uint64_t seq, const CommandSpec& spec,
                  uint16_t part, bool is_part, Args args);
  // Records the reply (or one part of it) of request `seq`.
  void Complete(uint64_t seq, uint16_t part, absl::string_view reply);
  // Moves completed replies at the head of the reorder buffer to output.
  void Drain();
  // A remote shard answered a batch (or could not: the engine is
  // stopping).
  void OnBatch(Conn& conn, absl::StatusOr<BatchPtr> answer);
  // Sends batches, writes output, resumes or pauses input, and decides
  // whether the connection closes.
  Action Finish(Conn& conn);
  Keyspace& local() { return local_->keyspace(); }

  std::shared_ptr<const Cluster> cluster_;
  SessionOptions options_;
  RespParser parser_;
  Shard* local_ = nullptr;
  uint32_t local_index_ = 0;
  uint32_t shards_ = 1;

  std::string out_;                  // replies to write at the end
  std::deque<Pending> pending_;      // reorder buffer, head first
  uint64_t head_seq_ = 0;            // sequence number of pending_.front()
  uint64_t next_seq_ = 0;
  std::vector<BatchPtr> outgoing_;   // by shard, this event's remote ops
  std::vector<BatchPtr> spare_;      // recycled batches
  bool quit_ = false;                // QUIT or protocol error: stop reading
  bool paused_ = false;              // at the in-flight bound
  bool broken_ = false;              // a message could not be sent
  bool peer_closed_ = false;         // the client sent its FIN

  // Scratch for splitting multi-key commands.
  std::vector<uint32_t> key_shard_;
  std::vector<int> part_of_shard_;
  std::vector<uint32_t> shard_of_part_;
  std::vector<absl::string_view> part_args_;
  std::string part_reply_;
};

}  // namespace actnet::redis

#endif  // ACTNET_EXAMPLES_REDIS_SESSION_H_
