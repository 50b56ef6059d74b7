// A visitor counter on loop 0 and a connection actor that asks it, across
// loops, for its visitor number, then echoes what it reads.
#ifndef GREETER_H_
#define GREETER_H_

#include <string>

#include "actnet.h"

// The messages: a connection introduces itself, the counter answers.
struct Hello {
  actnet::ActorRef from;
};
struct Welcome {
  int number;
};

class Counter : public actnet::Actor {
 public:
  explicit Counter(actnet::Engine& engine) : engine_(engine) {}
  void Receive(actnet::Envelope& message) override {
    // A refused reply (the engine is stopping) leaves nobody to tell.
    if (auto* hello = message.As<Hello>())
      engine_.Tell<Welcome>(hello->from, ++count_).IgnoreError();
  }

 private:
  actnet::Engine& engine_;
  int count_ = 0;
};

class Greeter : public actnet::Handler {
 public:
  explicit Greeter(actnet::ActorRef counter) : counter_(counter) {}
  actnet::Action OnOpen(actnet::Conn& conn) override {
    bool sent = conn.Tell<Hello>(counter_, conn.ref()).ok();
    return sent ? actnet::Action::kNone : actnet::Action::kClose;
  }
  actnet::Action OnMessage(actnet::Conn& conn,
                           actnet::Envelope& message) override {
    if (auto* w = message.As<Welcome>())
      conn.Write("visitor #" + std::to_string(w->number) + "\n");
    return actnet::Action::kNone;
  }
  actnet::Action OnData(actnet::Conn& conn) override {
    conn.Write(conn.Next());
    return actnet::Action::kNone;
  }

 private:
  actnet::ActorRef counter_;
};

#endif  // GREETER_H_
