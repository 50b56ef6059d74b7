// A scripted, recording handler on a stream connection in a FakeLoop, for
// the StreamConn unit tests: Script says what the handler does, Seen keeps
// what it saw (outside it: its connection owns the handler), and Harness
// holds the fake backend, the loop and one accepted connection.
//
// Thread contract: one thread, like the loop it stands in for.
#ifndef ACTNET_TESTS_ACTORS_CONN_HARNESS_H_
#define ACTNET_TESTS_ACTORS_CONN_HARNESS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actors/conn_messages.h"
#include "actors/connection.h"
#include "actors/envelope.h"
#include "actors/handler.h"
#include "actors/options.h"
#include "actors/stream_conn.h"
#include "doctest/doctest.h"
#include "tests/actors/fake_backend.h"

// FakeBackend::ops() and Seen::events print as lists when a CHECK fails.
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string s = "{";
    for (const std::string& e : v) absl::StrAppend(&s, s.size() > 1 ? ", " : "", "\"", e, "\"");
    s += "}";
    return String(s.c_str());
  }
};
}  // namespace doctest

namespace actnet::testing {

using Ops = std::vector<std::string>;

// What a handler saw, kept outside it (its connection owns the handler).
struct Seen {
  // "open", "data <inbound bytes>", "peer-closed", "drain", "close".
  std::vector<std::string> events;
  std::optional<CloseReason> reason;
};

// What a handler does; unset callbacks take the defaults (OnData consumes
// everything, OnPeerClosed closes).
struct Script {
  std::function<Action(Conn&)> on_open;
  std::function<Action(Conn&)> on_data;
  std::function<Action(Conn&)> on_peer_closed;
  std::function<Action(Conn&)> on_drain;
};

class ScriptedHandler : public Handler {
 public:
  ScriptedHandler(Seen* seen, Script script) : seen_(seen), script_(std::move(script)) {}

  Action OnOpen(Conn& c) override {
    seen_->events.push_back("open");
    return script_.on_open ? script_.on_open(c) : Action::kNone;
  }
  Action OnData(Conn& c) override {
    seen_->events.push_back(absl::StrCat("data ", c.Peek()));
    if (script_.on_data) return script_.on_data(c);
    c.Discard();
    return Action::kNone;
  }
  Action OnPeerClosed(Conn& c) override {
    seen_->events.push_back("peer-closed");
    return script_.on_peer_closed ? script_.on_peer_closed(c) : Action::kClose;
  }
  Action OnDrain(Conn& c) override {
    seen_->events.push_back("drain");
    return script_.on_drain ? script_.on_drain(c) : Action::kNone;
  }
  void OnClose(Conn& c, const CloseReason& reason) override {
    seen_->events.push_back("close");
    seen_->reason = reason;
  }

 private:
  Seen* seen_;
  Script script_;
};

// A loop on a fake backend and one accepted connection. Members are
// destroyed loop first, so handlers never outlive `seen`.
struct Harness {
  explicit Harness(EngineOptions options = {}) : loop(&backend, options) {}

  // An accepted connection; its registration is taken from ops().
  internal::StreamConn* Accept(Script script = {}) {
    return Adopt(loop.Accept(std::make_unique<ScriptedHandler>(&seen, std::move(script))));
  }
  // A connection dialling "fake://peer" (5 s timeout). Its outcome goes to
  // *result, and "dialled" to seen.events. The connect is taken from ops().
  internal::StreamConn* Dial(std::optional<absl::StatusOr<ActorRef>>* result) {
    internal::StreamConn* c =
        loop.NewStream(std::make_unique<ScriptedHandler>(&seen, Script{}));
    c->Dial(io::SocketAddress(), "fake://peer", /*tcp=*/false, absl::Seconds(5),
            [this, result](absl::StatusOr<ActorRef> r) {
              seen.events.push_back("dialled");
              *result = std::move(r);
            });
    return Adopt(c);
  }
  const std::string& sent() { return backend.stream(handle).sent; }
  bool live() const { return loop.IsLive(ref); }
  // Why the connection closed, if it has.
  std::optional<CloseReason::Kind> closed() const {
    if (!seen.reason.has_value()) return std::nullopt;
    return seen.reason->kind;
  }

  Seen seen;
  FakeBackend backend;
  FakeLoop loop;
  internal::StreamConn* conn = nullptr;  // valid until EndIteration after its close
  ActorRef ref;
  io::Handle handle = io::kNoHandle;

 private:
  internal::StreamConn* Adopt(internal::StreamConn* c) {
    conn = c;
    ref = c->ref();
    handle = backend.last_handle();
    backend.TakeOps();
    return c;
  }
};

// Writes `bytes` when the inbound bytes are "go"; consumes them all.
inline Action WriteOnce(Conn& c, absl::string_view bytes) {
  if (c.Peek() == "go") c.Write(bytes);
  c.Discard();
  return Action::kNone;
}

// Records each write callback's status.
inline WriteCallback RecordInto(std::vector<absl::Status>* statuses) {
  return [statuses](absl::Status s) { statuses->push_back(std::move(s)); };
}

// An AsyncWrite message, as Engine::AsyncWrite sends it.
inline Envelope AsyncWrite(const ActorRef& to, std::string data, WriteCallback done) {
  return Envelope::Make<internal::AsyncWriteMsg>(to.target(), std::move(data),
                                                 std::move(done));
}

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_ACTORS_CONN_HARNESS_H_
