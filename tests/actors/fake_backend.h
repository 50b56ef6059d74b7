// FakeBackend and FakeLoop: a loop for unit tests of connections, with no
// kernel beneath it.
//
// FakeBackend is an io::Backend that records what it is asked, in order
// (ops(): registrations, reading changes, sends, shutdowns, closes), takes
// only as many bytes per Send as the test allows (set_room: a socket that
// fills up), and delivers the outcomes a test queues (reads, EOF, room to
// send, hang-ups) through Poll and Dispatch, as a completion backend would.
// That a connection runs unchanged on it is the proof that io::Backend is
// the whole seam between a connection and epoll.
//
// FakeLoop is the ConnContext a connection gets from its loop: it owns the
// connections in an ActorTable, runs timers on a clock the test advances,
// and ends an iteration as LoopActor does (due timers, deferred flushes,
// released connections destroyed).
//
// Thread contract: one thread, like the loop they stand in for.
#ifndef ACTNET_TESTS_ACTORS_FAKE_BACKEND_H_
#define ACTNET_TESTS_ACTORS_FAKE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "actors/actor_table.h"
#include "actors/conn_context.h"
#include "actors/handler.h"
#include "actors/options.h"
#include "actors/stream_conn.h"
#include "actors/timer_queue.h"
#include "io/backend.h"
#include "io/unique_fd.h"

namespace actnet::testing {

class FakeBackend final : public io::Backend {
 public:
  static constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

  // One stream registration and what was done to it.
  struct Stream {
    io::StreamSink* sink = nullptr;
    uint32_t owner = 0;
    io::UniqueFd fd;
    std::string sent;        // every byte Send took, in order
    bool send_ready_owed = false;  // a Send fell short: OnSendReady promised
    bool closed = false;
  };

  // ---- The test's controls.
  // Bytes the "socket" takes from now on, over all Sends (kUnlimited: all).
  void set_room(size_t bytes) { room_ = bytes; }
  // Send returns -err from now on (0: sends work again).
  void set_send_error(int err) { send_error_ = err; }
  // ShutdownWrite returns -err from now on.
  void set_shutdown_error(int err) { shutdown_error_ = err; }
  // AddStream and Connect fail from now on.
  void set_refuse_streams(bool refuse) { refuse_streams_ = refuse; }

  // Outcomes for Poll to report and Dispatch to deliver, in order.
  void QueueRead(io::Handle h, absl::string_view data);
  void QueueEof(io::Handle h);
  void QueueSendReady(io::Handle h);
  void QueueHangup(io::Handle h, int err);
  void QueueConnected(io::Handle h, int err);

  // ---- What happened.
  // Every operation, in order: "add", "connect", "reading on|paused|off",
  // "send <taken>/<offered>", "shutdown", "close close|reset|release".
  // Calls for a handle that is not live are recorded as "stale <op>".
  const std::vector<std::string>& ops() const { return ops_; }
  // The ops recorded since the last call (a test's "what did that do").
  std::vector<std::string> TakeOps();
  // The iovec count of each Send, in order.
  const std::vector<int>& send_iovecs() const { return send_iovecs_; }
  io::Handle last_handle() const { return last_; }
  Stream& stream(io::Handle h) { return streams_.at(h); }
  Stream& last() { return streams_.at(last_); }
  // Operations asked of handles that were never registered or are closed.
  int stale_calls() const { return stale_calls_; }

  // ---- io::Backend.
  absl::Status AddWaker(int fd) override { return absl::OkStatus(); }
  absl::StatusOr<io::Handle> AddStream(io::UniqueFd fd, io::StreamSink* sink,
                                       uint32_t owner) override;
  absl::StatusOr<io::Handle> Connect(const io::SocketAddress& remote,
                                     io::StreamSink* sink, uint32_t owner,
                                     int* fd) override;
  absl::StatusOr<io::Handle> AddDatagram(int fd, bool owned,
                                         io::DatagramSink* sink,
                                         uint32_t owner) override;
  absl::StatusOr<io::Handle> AddAcceptor(int fd, io::AcceptSink* sink,
                                         uint32_t owner) override;
  void SetReading(io::Handle h, io::Reading reading) override;
  ssize_t Send(io::Handle h, const iovec* iov, int count) override;
  ssize_t SendDatagram(io::Handle h, absl::string_view data,
                       const io::SocketAddress* to) override;
  int ShutdownWrite(io::Handle h) override;
  void PauseAccept(io::Handle h) override {}
  void ResumeAccept(io::Handle h) override {}
  void Close(io::Handle h, io::CloseMode mode) override;
  int Poll(absl::Span<io::Completion> out, int timeout_ms) override;
  int PollMore(absl::Span<io::Completion> out, int ready) override {
    return ready + Poll(out.subspan(static_cast<size_t>(ready)), 0);
  }
  bool HasPending() const override { return !queued_.empty(); }
  uint32_t OwnerOf(const io::Completion& c) const override;
  void Dispatch(const io::Completion& c) override;

 private:
  enum Kind : uint32_t { kRead, kEof, kSendReady, kHangup, kConnected };
  struct Outcome {
    io::Handle handle;
    Kind kind;
    std::string data;
    int err = 0;
  };

  Stream* Live(io::Handle h);
  const Stream* Live(io::Handle h) const;
  // Live(h), or null with a "stale <op>" recorded.
  Stream* LiveFor(io::Handle h, absl::string_view op);
  absl::StatusOr<io::Handle> NewStream(io::UniqueFd fd, io::StreamSink* sink,
                                       uint32_t owner, const char* op);
  void Queue(io::Handle h, Kind kind, absl::string_view data, int err);

  std::map<io::Handle, Stream> streams_;
  io::Handle next_ = 1;
  io::Handle last_ = io::kNoHandle;
  size_t room_ = kUnlimited;
  int send_error_ = 0;
  int shutdown_error_ = 0;
  bool refuse_streams_ = false;
  int stale_calls_ = 0;
  std::vector<std::string> ops_;
  std::vector<int> send_iovecs_;
  size_t ops_taken_ = 0;
  std::deque<Outcome> queued_;    // not yet returned by Poll
  std::map<int32_t, Outcome> polled_;  // returned by Poll, by Completion::result
  int32_t next_id_ = 0;
};

class FakeLoop final : public internal::ConnContext {
 public:
  // Copies `opts`; ConnContext::options points at the copy.
  explicit FakeLoop(FakeBackend* fake, const EngineOptions& opts = {});
  ~FakeLoop();
  FakeLoop(const FakeLoop&) = delete;
  FakeLoop& operator=(const FakeLoop&) = delete;

  // A new stream connection in this loop's actor table (which owns it).
  internal::StreamConn* NewStream(std::unique_ptr<Handler> handler);
  // NewStream, then Accept of a socket the fake backend will "own".
  internal::StreamConn* Accept(std::unique_ptr<Handler> handler);

  // Moves the clock on by `d` and runs the timers then due.
  void Advance(absl::Duration d);
  // The end of an iteration, as LoopActor::FinishIteration: due timers,
  // connections written to outside a handler flushed, released ones
  // destroyed (pointers to them dangle from here on).
  void EndIteration();
  // One iteration: Poll (without blocking), then OwnerOf and Dispatch for
  // each completion, then EndIteration. Returns the completions polled.
  int RunIteration();
  // Hands a message to its target actor; false (a dead letter) if gone.
  bool Deliver(Envelope& message) { return table_.Deliver(message); }

  // A connection is still registered (it has not been released).
  bool IsLive(const ActorRef& ref) const { return Find(ref) != nullptr; }
  int releases() const { return releases_; }
  int stop_requests() const { return stop_requests_; }
  size_t pending_timers() const { return timers_.size(); }

  // ConnContext.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) override;
  Actor* Find(const ActorRef& ref) const override;
  void Release(Conn& conn, bool counted, const CloseReason& why) override;
  void CountUnhandled(const Envelope&, const ActorRef&) override { ++unhandled; }
  int unhandled = 0;
  void RequestStop() override { ++stop_requests_; }
  bool OnLoopThread() const override { return true; }

 private:
  EngineOptions options_;
  TimerQueue timers_;
  internal::ActorTable table_{0};
  std::vector<std::unique_ptr<Actor>> graveyard_;
  int releases_ = 0;
  int stop_requests_ = 0;
};

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_ACTORS_FAKE_BACKEND_H_
