// Shard: the actor that owns one loop's share of the keyspace.
//
// The keyspace is partitioned by key: ShardOf(key, n) names the loop whose
// Shard holds it. A connection on that same loop runs commands on the
// shard's Keyspace directly (same thread, no message). A connection on any
// other loop packs the commands of one read into a Batch and asks the
// owning Shard to run it (Ask with a RunBatch request); the shard runs
// them in order, writes the replies into the same Batch and answers with
// it. The batch object makes the round trip, so a cross-loop exchange
// costs one allocation at most (connections recycle them).
//
// Thread contract: a Shard and its Keyspace are used only on their loop's
// thread. A Batch belongs to whichever side holds its pointer; handing it
// over in a message is the synchronisation.
#ifndef ACTNET_EXAMPLES_REDIS_SHARD_H_
#define ACTNET_EXAMPLES_REDIS_SHARD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actnet.h"
#include "examples/redis/commands.h"
#include "examples/redis/keyspace.h"

namespace actnet::redis {

// The shard (loop index) owning `key` among `shards`.
uint32_t ShardOf(absl::string_view key, uint32_t shards);

// One command, or one shard's part of a split command, inside a Batch.
struct Op {
  uint64_t seq;               // the request's number on its connection
  const CommandSpec* spec;    // the command table is immutable: shareable
  uint32_t first_arg;         // into Batch::args
  uint32_t num_args;
  uint16_t part;              // which part of a split request
  bool is_part;               // run spec->part instead of spec->run
};

// Commands from one connection for one shard, and on the way back, their
// replies.
struct Batch {
  std::string arena;                               // argument bytes
  std::vector<std::pair<size_t, size_t>> args;     // (offset, size) in arena
  std::vector<Op> ops;
  std::string out;             // the replies, in op order
  std::vector<size_t> ends;    // where each op's reply ends in `out`

  void Add(uint64_t seq, const CommandSpec* spec, uint16_t part, bool is_part,
           Args op_args);
  void Clear();
};
using BatchPtr = std::unique_ptr<Batch>;

class Shard;

// The request a session asks a remote shard: run the batch, answer with it
// (replies filled in).
struct RunBatch {
  using Reply = BatchPtr;
  BatchPtr batch;
};

// The shards' refs, by loop index. Built before Start, immutable after.
struct Cluster {
  std::vector<Ref<Shard>> shards;
};

class Shard final : public Receives<RunBatch> {
 public:
  Shard() = default;

  // Loop thread only (or before Start).
  Keyspace& keyspace() { return keyspace_; }
  // Runs a Batch from a connection and answers with it, replies filled.
  void On(RunBatch& request, Promise<BatchPtr> reply) override;
  // Runs every op of `batch` in order, appending replies. Used by Receive
  // and by tests.
  void Execute(Batch& batch);
  // Starts the periodic expiry sweep on `loop`, this shard's loop. Loop
  // thread only.
  void StartSweeping(EventLoop& loop, absl::Duration interval);

 private:
  void Sweep(EventLoop& loop);

  Keyspace keyspace_;
  absl::Duration sweep_interval_ = absl::Milliseconds(100);
  std::vector<absl::string_view> argv_;  // scratch
};

// Milliseconds of the loop's monotonic clock: the keyspace's time.
inline int64_t LoopMillis(const EventLoop& loop) {
  return loop.now_ns() / 1000000;
}

}  // namespace actnet::redis

#endif  // ACTNET_EXAMPLES_REDIS_SHARD_H_
