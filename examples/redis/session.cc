#include "examples/redis/session.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace actnet::redis {
namespace {

constexpr size_t kMaxSpareBatches = 4;
constexpr size_t kMaxSpareBytes = 256 << 10;

// Parses ":<n>\r\n" (a part of a summed reply; we produced it).
int64_t ParseIntReply(absl::string_view r) {
  int64_t v = 0;
  if (r.size() >= 3 && r[0] == ':') {
    ParseRedisInt(r.substr(1, r.size() - 3), &v);
  }
  return v;
}

// Splits a run of "$n\r\n...\r\n" / "$-1\r\n" replies (MGET's elements).
std::vector<absl::string_view> SplitBulks(absl::string_view r) {
  std::vector<absl::string_view> elems;
  size_t pos = 0;
  while (pos < r.size()) {
    const size_t eol = r.find("\r\n", pos);
    int64_t n = -1;
    ParseRedisInt(r.substr(pos + 1, eol - pos - 1), &n);
    const size_t end = n < 0 ? eol + 2 : eol + 2 + static_cast<size_t>(n) + 2;
    elems.push_back(r.substr(pos, end - pos));
    pos = end;
  }
  return elems;
}

}  // namespace

Session::Session(std::shared_ptr<const Cluster> cluster, SessionOptions options)
    : cluster_(std::move(cluster)),
      options_(options),
      parser_(options.limits),
      shards_(static_cast<uint32_t>(cluster_->shards.size())) {}

Action Session::OnOpen(Conn& conn) {
  local_index_ = conn.loop().index();
  local_ = static_cast<Shard*>(
      conn.loop().Find(cluster_->shards[local_index_].get()));
  outgoing_.resize(shards_);
  part_of_shard_.assign(shards_, -1);
  return local_ == nullptr ? Action::kClose : Action::kNone;
}

Action Session::OnData(Conn& conn) {
  local().set_now_ms(LoopMillis(conn.loop()));
  Pump(conn);
  return Finish(conn);
}

void Session::OnBatch(Conn& conn, absl::StatusOr<BatchPtr> answer) {
  if (!answer.ok() || *answer == nullptr) {
    broken_ = true;  // its replies will never come
    conn.Close();
    return;
  }
  BatchPtr& batch = *answer;
  Batch& b = *batch;
  size_t begin = 0;
  for (size_t i = 0; i < b.ops.size(); ++i) {
    const absl::string_view out(b.out);
    Complete(b.ops[i].seq, b.ops[i].part, out.substr(begin, b.ends[i] - begin));
    begin = b.ends[i];
  }
  Drain();
  if (spare_.size() < kMaxSpareBatches && b.out.capacity() <= kMaxSpareBytes &&
      b.arena.capacity() <= kMaxSpareBytes) {
    b.Clear();
    spare_.push_back(std::move(batch));
  }
  if (paused_ && pending_.size() < options_.max_in_flight) {
    local().set_now_ms(LoopMillis(conn.loop()));
    Pump(conn);
  }
  if (Finish(conn) == Action::kClose) conn.Close();
}

Action Session::OnPeerClosed(Conn& conn) {
  peer_closed_ = true;
  return Finish(conn);
}

void Session::Pump(Conn& conn) {
  size_t used = 0;
  absl::string_view in;
  while (!quit_ && pending_.size() < options_.max_in_flight) {
    const size_t available = conn.InboundBytes() - used;
    if (available == 0 || available < parser_.wanted()) break;
    if (in.empty()) in = conn.Peek();
    const RespParser::Result r = parser_.Parse(in.substr(used));
    if (r == RespParser::Result::kNeedMore) break;
    if (r == RespParser::Result::kError) {
      AppendError(ImmediateReply(), parser_.error());
      quit_ = true;
      break;
    }
    used += parser_.consumed();
    if (!parser_.args().empty()) Dispatch(Args(parser_.args()));
  }
  conn.Discard(used);
  paused_ = !quit_ && pending_.size() >= options_.max_in_flight;
}

std::string* Session::ImmediateReply() {
  ++next_seq_;
  if (pending_.empty()) {
    head_seq_ = next_seq_;
    return &out_;
  }
  pending_.emplace_back().done = true;
  return &pending_.back().reply;
}

uint64_t Session::NewPending(Merge merge, uint32_t parts) {
  if (pending_.empty()) head_seq_ = next_seq_;
  Pending& p = pending_.emplace_back();
  p.merge = merge;
  p.parts_left = parts;
  return next_seq_++;
}

void Session::SendRemote(uint32_t shard, uint64_t seq, const CommandSpec& spec,
                         uint16_t part, bool is_part, Args args) {
  BatchPtr& b = outgoing_[shard];
  if (b == nullptr) {
    if (spare_.empty()) {
      b = std::make_unique<Batch>();
    } else {
      b = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  b->Add(seq, &spec, part, is_part, args);
}

// INFO [section ...]: the sections this server has, "server" and "loops"
// (every loop's Engine::Stats counters); no argument, "all", "default" or
// "everything" is both; an unknown section contributes nothing, as in Redis.
void Session::AppendInfo(Args args, std::string* out) {
  bool server = args.size() == 1, loops = args.size() == 1;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string section = absl::AsciiStrToLower(args[i]);
    const bool every =
        section == "all" || section == "default" || section == "everything";
    server = server || every || section == "server";
    loops = loops || every || section == "loops";
  }
  const Engine& engine = EventLoop::Current()->engine();
  std::string text;
  if (server) {
    absl::StrAppend(&text, "# Server\r\nserver_name:actnet-redis\r\n",
                    "redis_mode:standalone\r\nloops:", engine.num_loops(),
                    "\r\nshard_of_this_connection:", local_index_, "\r\n");
  }
  if (loops) {
    if (!text.empty()) text += "\r\n";
    text += "# Loops\r\n";
    for (const LoopStats& l : engine.Stats()) {
      absl::StrAppend(&text, "loop", l.loop, ":connections=", l.connections,
                      ",iterations=", l.iterations, ",polls=", l.polls,
                      ",blocking_polls=", l.blocks, ",windows=", l.windows,
                      ",yields=", l.yields, ",messages=", l.messages,
                      ",wakeups=", l.wakeups, ",dead_letters=", l.dead_letters,
                      "\r\n");
    }
  }
  AppendBulk(out, text);
}

void Session::Dispatch(Args args) {
  const CommandSpec* spec = LookupCommand(args[0]);
  if (spec == nullptr) return AppendUnknownCommand(args, ImmediateReply());
  part_reply_.clear();
  if (!CheckArity(*spec, args, &part_reply_)) {
    ImmediateReply()->append(part_reply_);
    return;
  }
  switch (spec->route) {
    case Route::kLocal:
      if (spec->name == "quit") quit_ = true;
      if (spec->name == "info") return AppendInfo(args, ImmediateReply());
      return spec->run(local(), args, ImmediateReply());
    case Route::kKey: {
      const uint32_t shard = ShardOf(args[1], shards_);
      if (shard == local_index_) return spec->run(local(), args, ImmediateReply());
      const uint64_t seq = NewPending(Merge::kNone, 1);
      return SendRemote(shard, seq, *spec, 0, false, args);
    }
    case Route::kKeys:
    case Route::kPairs:
      return DispatchMultiKey(*spec, args);
    case Route::kAll:
      return DispatchAll(*spec, args);
  }
}

void Session::DispatchMultiKey(const CommandSpec& spec, Args args) {
  const size_t step = spec.route == Route::kPairs ? 2 : 1;
  key_shard_.clear();
  bool single = true;
  for (size_t i = 1; i < args.size(); i += step) {
    key_shard_.push_back(ShardOf(args[i], shards_));
    single = single && key_shard_.back() == key_shard_.front();
  }
  if (single) {  // one shard holds every key: the command runs whole
    const uint32_t shard = key_shard_.front();
    if (shard == local_index_) return spec.run(local(), args, ImmediateReply());
    const uint64_t seq = NewPending(Merge::kNone, 1);
    return SendRemote(shard, seq, spec, 0, false, args);
  }
  // One part per shard involved, numbered in order of first appearance.
  shard_of_part_.clear();
  for (uint32_t s : key_shard_) {
    if (part_of_shard_[s] < 0) {
      part_of_shard_[s] = static_cast<int>(shard_of_part_.size());
      shard_of_part_.push_back(s);
    }
  }
  const auto parts = static_cast<uint32_t>(shard_of_part_.size());
  const uint64_t seq = NewPending(spec.merge, parts);
  if (spec.merge == Merge::kArray) {
    Pending& p = pending_.back();
    p.part_keys.resize(parts);
    p.elems.resize(key_shard_.size());
    for (uint32_t k = 0; k < key_shard_.size(); ++k) {
      p.part_keys[static_cast<size_t>(part_of_shard_[key_shard_[k]])].push_back(k);
    }
  }
  for (uint16_t part = 0; part < parts; ++part) {
    const uint32_t shard = shard_of_part_[part];
    part_args_.clear();
    part_args_.push_back(args[0]);
    for (size_t k = 0; k < key_shard_.size(); ++k) {
      if (key_shard_[k] != shard) continue;
      for (size_t j = 0; j < step; ++j) part_args_.push_back(args[1 + k * step + j]);
    }
    if (shard == local_index_) {
      part_reply_.clear();
      spec.part(local(), Args(part_args_), &part_reply_);
      Complete(seq, part, part_reply_);
    } else {
      SendRemote(shard, seq, spec, part, true, Args(part_args_));
    }
  }
  for (uint32_t s : shard_of_part_) part_of_shard_[s] = -1;
}

void Session::DispatchAll(const CommandSpec& spec, Args args) {
  // The local shard first: if it rejects the arguments, so would all.
  part_reply_.clear();
  spec.part(local(), args, &part_reply_);
  if (shards_ == 1 || part_reply_[0] == '-') {
    ImmediateReply()->append(part_reply_);
    return;
  }
  const uint64_t seq = NewPending(spec.merge, shards_);
  Complete(seq, 0, part_reply_);
  for (uint32_t s = 0; s < shards_; ++s) {
    if (s != local_index_) SendRemote(s, seq, spec, 0, true, args);
  }
}

void Session::Complete(uint64_t seq, uint16_t part, absl::string_view reply) {
  const size_t index = static_cast<size_t>(seq - head_seq_);
  Pending& p = pending_[index];
  switch (p.merge) {
    case Merge::kNone:
      if (index == 0) {  // the head: no need to hold it
        out_.append(reply.data(), reply.size());
        pending_.pop_front();
        ++head_seq_;
        return;
      }
      p.reply.assign(reply.data(), reply.size());
      break;
    case Merge::kSum:
      p.sum += ParseIntReply(reply);
      break;
    case Merge::kOk:
      break;
    case Merge::kArray: {
      const std::vector<absl::string_view> elems = SplitBulks(reply);
      const std::vector<uint32_t>& keys = p.part_keys[part];
      for (size_t i = 0; i < elems.size() && i < keys.size(); ++i) {
        p.elems[keys[i]].assign(elems[i].data(), elems[i].size());
      }
      break;
    }
  }
  if (p.merge != Merge::kNone && --p.parts_left > 0) return;
  p.done = true;
  if (p.merge == Merge::kSum) {
    AppendInt(&p.reply, p.sum);
  } else if (p.merge == Merge::kOk) {
    p.reply.assign(kOk.data(), kOk.size());
  } else if (p.merge == Merge::kArray) {
    AppendArray(&p.reply, static_cast<int64_t>(p.elems.size()));
    for (const std::string& e : p.elems) p.reply += e;
  }
}

void Session::Drain() {
  while (!pending_.empty() && pending_.front().done) {
    out_ += pending_.front().reply;
    pending_.pop_front();
    ++head_seq_;
  }
}

Action Session::Finish(Conn& conn) {
  Drain();
  for (uint32_t s = 0; s < shards_; ++s) {
    if (outgoing_[s] == nullptr) continue;
    // No deadline: replies are written in request order, so a late batch
    // holds the ones behind it rather than being given up on.
    absl::Status st = conn.Ask(
        cluster_->shards[s], RunBatch{std::move(outgoing_[s])},
        absl::InfiniteDuration(),
        [this, &conn](absl::StatusOr<BatchPtr> answer) {
          OnBatch(conn, std::move(answer));
        });
    outgoing_[s] = nullptr;
    if (!st.ok()) broken_ = true;  // its replies would never come
  }
  if (!out_.empty()) {
    conn.Write(out_);
    out_.clear();
  }
  if (broken_ || (quit_ && pending_.empty())) return Action::kClose;
  // After the client's FIN: done once every reply is out and no complete
  // request is left waiting for room (a partial one never completes).
  if (peer_closed_ && pending_.empty() && !paused_) return Action::kClose;
  if (paused_ && !conn.reading_paused()) {
    conn.PauseReading();
  } else if (!paused_ && conn.reading_paused()) {
    conn.ResumeReading();
  }
  return Action::kNone;
}

}  // namespace actnet::redis
