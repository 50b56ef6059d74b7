// ConnContext: what a connection needs from the loop that owns it, and
// nothing more: the backend that does its I/O, the options, the loop's
// clock and timers, the write-gather buffer, the list of connections to
// flush at the end of the iteration, and the way back to its loop's actor
// table. Implemented by the loop actor (LoopActor) and, in unit tests, by a
// stand-in loop with a fake backend.
//
// Thread contract: the owning loop's thread only.
#ifndef ACTNET_ACTORS_CONN_CONTEXT_H_
#define ACTNET_ACTORS_CONN_CONTEXT_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actors/actor_ref.h"
#include "actors/envelope.h"
#include "actors/handler.h"
#include "actors/loop_counter.h"
#include "actors/options.h"
#include "io/backend.h"

namespace actnet {

class Actor;
class Conn;
class EventLoop;

namespace internal {

class StreamConn;

// The bytes one handler call writes while its connection has nothing
// queued: views of the event's lent inbound bytes (no copy) and copies of
// everything else, sent with one writev when the handler returns. One per
// loop, used by the connection whose handler is running (`owner`).
class WriteGather {
 public:
  static constexpr int kMaxIov = 64;

  StreamConn* owner = nullptr;

  bool empty() const { return chunks_.empty(); }
  // The bytes when they are one piece and none is sent yet (a handler's
  // one Write, the common case); else an empty view.
  absl::string_view Whole() const {
    return chunks_.size() == 1 && partial_ == 0 ? View(0)
                                                : absl::string_view();
  }
  // `lent`: data stays valid until the handler returns (no copy needed).
  void Add(absl::string_view data, bool lent);
  // iovecs for the bytes not sent yet (at most `max`); returns the count
  // and the bytes they cover in *total.
  int Fill(iovec* iov, int max, size_t* total) const;
  // Marks n bytes sent.
  void Consume(size_t n);
  // Calls fn(string_view) for each unsent piece, in order.
  template <class Fn>
  void ForEachUnsent(Fn&& fn) const {
    for (size_t i = done_; i < chunks_.size(); ++i) {
      const absl::string_view c = View(i);
      fn(i == done_ ? c.substr(partial_) : c);
    }
  }
  void Clear();

 private:
  struct Chunk {
    const char* lent;  // non-null: a view of lent bytes
    size_t offset;     // else: a range of bytes_
    size_t size;
  };
  absl::string_view View(size_t i) const {
    const Chunk& c = chunks_[i];
    return absl::string_view(
        c.lent != nullptr ? c.lent : bytes_.data() + c.offset, c.size);
  }

  std::vector<Chunk> chunks_;
  std::string bytes_;
  size_t done_ = 0;     // chunks fully sent
  size_t partial_ = 0;  // bytes sent of chunk done_
};

class ConnContext {
 public:
  io::Backend* backend = nullptr;
  uint32_t owner = 0;         // this loop's owner tag at the backend
  EventLoop* loop = nullptr;  // what Conn::loop() returns
  const EngineOptions* options = nullptr;
  int64_t clock_ns = 0;   // the current iteration's monotonic time
  bool stopping = false;  // the loop's stop sequence has begun
  WriteGather gather;
  // Stream connections written to outside a handler: flushed at the end of
  // the iteration.
  std::vector<StreamConn*> flush_list;
  LoopCounter truncated_datagrams;
  LoopCounter dropped_datagrams;

  // Runs `fn` on this loop after `delay`.
  virtual void RunAfter(absl::Duration delay,
                        absl::AnyInvocable<void()> fn) = 0;
  // The live actor behind a ref on this loop, or null.
  virtual Actor* Find(const ActorRef& ref) const = 0;
  // A connection closed: it leaves the actor table now (later messages to
  // it are dead letters) and is destroyed at the end of the iteration.
  // `counted`: it was counted among the loop's connections.
  virtual void Release(Conn& conn, bool counted, const CloseReason& why) = 0;
  // Action::kShutdown: stop the whole engine.
  virtual void RequestStop() = 0;
  // A message that `to` did not handle (typed.h).
  virtual void CountUnhandled(const Envelope& message, const ActorRef& to) = 0;
  // True on the loop's thread (or while no thread runs it yet).
  virtual bool OnLoopThread() const = 0;

 protected:
  ~ConnContext() = default;
};

}  // namespace internal
}  // namespace actnet

#endif  // ACTNET_ACTORS_CONN_CONTEXT_H_
