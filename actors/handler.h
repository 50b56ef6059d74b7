// Handler: the user's connection actor. The engine creates one per
// connection (through the factory given to Engine::Listen) and calls it on
// the connection's loop thread only, one event at a time, so a handler owns
// its state without locks. Each callback returns an Action.
//   class Echo : public actnet::Handler {
//     actnet::Action OnData(actnet::Conn& c) override {
//       c.Write(c.Next());
//       return actnet::Action::kNone;
//     }
//   };
#ifndef ACTNET_ACTORS_HANDLER_H_
#define ACTNET_ACTORS_HANDLER_H_

#include <functional>
#include <memory>
#include <string>

#include "actors/envelope.h"

namespace actnet {

class Conn;

namespace internal {
// Counts an unhandled message to a connection (connection.cc).
void CountUnhandledConn(const Envelope& message, Conn& conn);
}  // namespace internal

// What the engine does after a callback returns.
enum class Action {
  kNone,      // carry on
  kClose,     // close this connection (queued output is flushed first)
  kShutdown,  // stop the whole engine gracefully
};

// Why a connection closed.
struct CloseReason {
  enum class Kind {
    kLocal,          // Close() or Action::kClose
    kPeerClosed,     // orderly EOF from the peer
    kError,          // socket error (reset, broken pipe...); see `error`
    kEngineStopped,  // the engine is stopping
    kTimeout,        // queued output could not be flushed in time
    kConnectFailed,  // a dialled connection never opened
    kIdle,           // nothing read or written for EngineOptions::idle_timeout
    kInboundLimit,   // unconsumed input passed max_inbound_buffer
  };
  Kind kind = Kind::kLocal;
  int error = 0;  // errno for kError

  bool is_error() const {
    return kind == Kind::kError || kind == Kind::kTimeout ||
           kind == Kind::kConnectFailed || kind == Kind::kInboundLimit;
  }
  std::string ToString() const;
};

class Handler {
 public:
  virtual ~Handler() = default;

  // The connection is registered and may write. Not called for the view a
  // UDP listener hands its handler (there is no connection to open).
  virtual Action OnOpen(Conn& conn) { return Action::kNone; }
  // Inbound bytes are buffered in the connection: Peek/Next/Discard them.
  // Bytes left unconsumed stay buffered, but OnData is only called again
  // when more arrive (or on Wake()). For UDP, each call is one datagram;
  // what is left unread of it is dropped.
  virtual Action OnData(Conn& conn) = 0;
  // The per-connection ticker set with Conn::SetTick fired.
  virtual Action OnTick(Conn& conn) { return Action::kNone; }
  // A message sent to this connection's ActorRef (Engine::Tell, Conn::Tell).
  // The payload is destroyed after return unless moved out. By default it
  // is counted as unhandled (LoopStats::unhandled); an override should
  // pass what it does not handle to conn.Unhandled(message).
  virtual Action OnMessage(Conn& conn, Envelope& message);
  // The peer half-closed: it sends nothing more (read returned EOF). By
  // default the connection then closes once queued output is flushed
  // (CloseReason kPeerClosed). Return kNone to keep it half-open instead:
  // reading stops, while writes, OnMessage, OnTick and OnDrain carry on
  // until the handler closes it (Close() or Action::kClose). That is how a
  // server answers requests whose replies come later (from another loop, a
  // backend) after a client sent its last request and shut down its side.
  // Bytes left unconsumed in the input buffer stay readable. Not called
  // for UDP.
  virtual Action OnPeerClosed(Conn& conn) { return Action::kClose; }
  // Output that could not be written at once (the socket was full) has
  // now all reached the kernel. Use it to resume a producer that paused.
  virtual Action OnDrain(Conn& conn) { return Action::kNone; }
  // The connection is closing; writes are ignored from here on. Not called
  // for a UDP listener's connection view.
  virtual void OnClose(Conn& conn, const CloseReason& reason) {}
};

// Makes a handler for each new connection. Called on the connection's loop.
using HandlerFactory = std::function<std::unique_ptr<Handler>()>;

}  // namespace actnet

#endif  // ACTNET_ACTORS_HANDLER_H_
