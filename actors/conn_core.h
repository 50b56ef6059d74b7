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
  DialCallback TakeDial() { return std::exchange(dial_done_, nullptr); }
  // Opens a connection made by Dial or Enroll: OnOpen, then the dial's
  // callback with its ref.
  void OpenDialled() {
    state_ = State::kOpen;
    dial_target_.clear();
    DialCallback done = TakeDial();
    const ActorRef me = ref();
    RunHandler([this] { return handler_->OnOpen(*this); });
    if (done) done(me);
  }
  absl::Status DialError(const absl::Status& s) const {
    return absl::Status(s.code(),
                        absl::StrCat("dial ", dial_target_, ": ", s.message()));
  }

  CloseReason pending_reason_;  // why it closes, once kClosing
  DialCallback dial_done_;      // while connecting
  std::string dial_target_;     // for dial error messages
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_CONN_CORE_H_
