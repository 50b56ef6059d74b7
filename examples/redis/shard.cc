#include "examples/redis/shard.h"

#include "absl/hash/hash.h"

namespace actnet::redis {

uint32_t ShardOf(absl::string_view key, uint32_t shards) {
  if (shards <= 1) return 0;
  // absl::Hash is seeded once per process, so every loop agrees.
  return static_cast<uint32_t>(absl::Hash<absl::string_view>{}(key) % shards);
}

void Batch::Add(uint64_t seq, const CommandSpec* spec, uint16_t part,
                bool is_part, Args op_args) {
  ops.push_back(Op{seq, spec, static_cast<uint32_t>(args.size()),
                   static_cast<uint32_t>(op_args.size()), part, is_part});
  for (absl::string_view a : op_args) {
    args.emplace_back(arena.size(), a.size());
    arena.append(a.data(), a.size());
  }
}

void Batch::Clear() {
  arena.clear();
  args.clear();
  ops.clear();
  out.clear();
  ends.clear();
}

void Shard::Execute(Batch& batch) {
  const absl::string_view arena = batch.arena;
  for (const Op& op : batch.ops) {
    argv_.clear();
    for (uint32_t i = 0; i < op.num_args; ++i) {
      const auto& [offset, size] = batch.args[op.first_arg + i];
      argv_.push_back(arena.substr(offset, size));
    }
    CommandFn fn = op.is_part ? op.spec->part : op.spec->run;
    fn(keyspace_, Args(argv_), &batch.out);
    batch.ends.push_back(batch.out.size());
  }
}

void Shard::On(RunBatch& request, Promise<BatchPtr> reply) {
  if (request.batch == nullptr) return;  // the promise answers Aborted
  keyspace_.set_now_ms(LoopMillis(loop()));
  Execute(*request.batch);
  request.batch->arena.clear();
  request.batch->args.clear();
  reply.Reply(std::move(request.batch));
}

void Shard::StartSweeping(EventLoop& loop, absl::Duration interval) {
  sweep_interval_ = interval;
  loop.RunAfter(interval, [this, &loop] { Sweep(loop); });
}

void Shard::Sweep(EventLoop& loop) {
  if (loop.engine().stopping()) return;
  constexpr size_t kBudget = 2000;
  keyspace_.set_now_ms(LoopMillis(loop));
  keyspace_.Sweep(kBudget);
  // Keys still due after a full budget: come back soon.
  const absl::Duration next =
      keyspace_.HasDue() ? absl::Milliseconds(1) : sweep_interval_;
  loop.RunAfter(next, [this, &loop] { Sweep(loop); });
}

}  // namespace actnet::redis
