// The engine's own messages to connection actors, sent by the thread-safe
// Engine calls (AsyncWrite, Wake, Close). Internal: users send their own
// types with Tell and receive them in Handler::OnMessage.
#ifndef ACTNET_ACTORS_CONN_MESSAGES_H_
#define ACTNET_ACTORS_CONN_MESSAGES_H_

#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "actors/connection.h"

namespace actnet::internal {

// Bytes to write. If the message dies undelivered (its connection is gone),
// the callback still runs, with an error: no completion is ever lost.
struct AsyncWriteMsg {
  std::string data;
  WriteCallback done;

  AsyncWriteMsg(std::string d, WriteCallback cb)
      : data(std::move(d)), done(std::move(cb)) {}
  AsyncWriteMsg(AsyncWriteMsg&&) noexcept = default;
  ~AsyncWriteMsg() {
    if (done) {
      done(absl::FailedPreconditionError(
          "AsyncWrite: the connection is closed"));
    }
  }
};

struct WakeMsg {};

// Close a connection (flushing) or despawn a user actor. `done` (optional)
// hears OK once it is gone; if the message dies undelivered, NotFound.
struct CloseMsg {
  absl::AnyInvocable<void(absl::Status)> done;

  CloseMsg() = default;
  explicit CloseMsg(absl::AnyInvocable<void(absl::Status)> cb)
      : done(std::move(cb)) {}
  CloseMsg(CloseMsg&&) noexcept = default;
  ~CloseMsg() {
    if (done) done(absl::NotFoundError("Close: the actor is already dead"));
  }
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_CONN_MESSAGES_H_
