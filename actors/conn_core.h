// ConnCore: the loop's side of every connection (stream or datagram): what
// the loop's stop sequence asks of it, and the parts of closing both kinds
// share. Internal; handlers see Conn.
//
// Thread contract: the owning loop's thread only.
#ifndef ACTNET_ACTORS_CONN_CORE_H_
#define ACTNET_ACTORS_CONN_CORE_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "actors/conn_context.h"
#include "actors/connection.h"

namespace actnet::internal {

class ConnCore : public Conn {
 public:
  // The engine is stopping: close after flushing (a connect in progress
  // at once; its dial reports Cancelled).
  void BeginStop() {
    const CloseReason stopped{CloseReason::Kind::kEngineStopped, 0};
    if (state_ == State::kConnecting) {
      CloseNow(stopped);
    } else {
      CloseGracefully(stopped);
    }
  }
  // Runs `fn` as a handler callback (what it writes is flushed after it,
  // as for OnMessage): how an Ask's reply reaches a connection.
  void RunAsHandler(absl::FunctionRef<void()> fn) {
    RunHandler([&fn] {
      fn();
      return Action::kNone;
    });
  }
  // The stop deadline has passed: close now.
  void FinishStop() {
    CloseNow(CloseReason{CloseReason::Kind::kEngineStopped, 0});
  }

 protected:
  ConnCore(ConnContext* context, std::unique_ptr<Handler> handler,
           const io::SocketAddress& remote)
      : Conn(context, std::move(handler), remote) {}

  // Arms the idle timeout (EngineOptions::idle_timeout), if one is set.
  void StartIdleTimer() {
    const absl::Duration idle = ctx_->options->idle_timeout;
    if (idle > absl::ZeroDuration()) {
      ScheduleIdleCheck(ctx_->clock_ns + absl::ToInt64Nanoseconds(idle));
    }
  }
  // A dial that ends before the connection opened reports exactly once:
  // takes the callback to report with.
  DialCallback TakeDial() {
    return dial_ ? std::exchange(dial_->done, nullptr) : nullptr;
  }
  void set_dial_done(DialCallback done) { Dialling().done = std::move(done); }
  void set_dial_target(std::string target) {
    Dialling().target = std::move(target);
  }
  // The dialled address as the user wrote it, for error messages.
  absl::string_view dial_target() const {
    return dial_ ? absl::string_view(dial_->target) : absl::string_view();
  }
  // Opens a connection made by Dial or Enroll: OnOpen, then the dial's
  // callback with its ref.
  void OpenDialled() {
    state_ = State::kOpen;
    DialCallback done = TakeDial();
    dial_.reset();
    const ActorRef me = ref();
    RunHandler([this] { return handler_->OnOpen(*this); });
    if (done) done(me);
  }
  absl::Status DialError(const absl::Status& s) const {
    return absl::Status(
        s.code(), absl::StrCat("dial ", dial_target(), ": ", s.message()));
  }

  CloseReason pending_reason_;  // why it closes, once kClosing

 private:
  // A dial's state, allocated only for dialled or enrolled connections (an
  // accepted one carries just the pointer).
  struct DialState {
    DialCallback done;
    std::string target;
  };
  DialState& Dialling() {
    if (!dial_) dial_ = std::make_unique<DialState>();
    return *dial_;
  }
  std::unique_ptr<DialState> dial_;
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_CONN_CORE_H_
