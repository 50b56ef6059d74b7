// Typed actors and handlers: declare the messages an actor receives, get
// one On(...) overload per type, and a typed ref that refuses at compile
// time a message the actor does not receive.
//
//   struct Join { std::string who; };
//   struct Count { using Reply = int; };          // a request (see ask.h)
//   class Room : public actnet::Receives<Join, Count, actnet::Terminated> {
//     void On(Join& j) override { ... }
//     void On(Count&, actnet::Promise<int> reply) override { reply.Reply(n); }
//     void On(actnet::Terminated& t) override { ... }
//   };
//   actnet::Ref<Room> room = engine.Spawn<Room>(0);   // or Ref<Room>(ref)
//   engine.Tell(room, Join{"ann"});     // OK
//   engine.Tell(room, 3.14);            // does not compile
//
// Dispatch is by the payload's type id (the address of its operations
// table, envelope.h) against a table built once per actor class: no chain
// of As<T>() checks in user code. A message of a type the class does not
// list is counted as unhandled (LoopStats::unhandled, Engine::Unhandled)
// and passed to Unhandled(), which a class may override (to log it, say).
// A Tell of a request type arrives with an empty promise.
//
// ConnReceives<Ms...> is the same for a connection's Handler: On(Conn&, M&)
// (On(Conn&, M&, Promise<R>) for requests) returning an Action.
#ifndef ACTNET_ACTORS_TYPED_H_
#define ACTNET_ACTORS_TYPED_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "actors/actor.h"
#include "actors/actor_ref.h"
#include "actors/ask.h"
#include "actors/envelope.h"
#include "actors/handler.h"

namespace actnet {

class Conn;

template <class... Ms>
struct TypeList {};

template <class List, class M>
inline constexpr bool kListed = false;
template <class... Ms, class M>
inline constexpr bool kListed<TypeList<Ms...>, M> = (std::is_same_v<Ms, M> || ...);

// Does actor or handler class A receive M? (A lists its Messages.)
template <class A, class M, class = void>
inline constexpr bool kReceives = false;
template <class A, class M>
inline constexpr bool
    kReceives<A, M, std::void_t<typename A::Messages>> =
        kListed<typename A::Messages, std::decay_t<M>>;

// A ref that knows its actor's class: Tell and Ask through it are checked
// at compile time. Converts to ActorRef for the dynamic calls.
template <class A>
class Ref {
 public:
  Ref() = default;
  // The caller vouches that `ref` names an A.
  explicit Ref(const ActorRef& ref) : ref_(ref) {}
  const ActorRef& get() const { return ref_; }
  operator const ActorRef&() const { return ref_; }  // NOLINT: by design
  bool valid() const { return ref_.valid(); }
  friend bool operator==(const Ref& a, const Ref& b) { return a.ref_ == b.ref_; }
  friend bool operator!=(const Ref& a, const Ref& b) { return a.ref_ != b.ref_; }

 private:
  ActorRef ref_;
};

namespace internal {

// Counts (and, with EngineOptions::log_unhandled, logs) a message that
// reached `to` and that nothing handled. Loop thread only.
void CountUnhandled(const Envelope& message, const ActorRef& to);

// One dispatch entry: a payload type id and the call for it.
template <class Fn>
struct DispatchEntry {
  const MessageOps* ops;
  Fn fn;
};

// Looks `ops` up in a table sorted by type id (binary search beyond eight
// entries; a short table is scanned). Null if absent.
template <class Entry, size_t N>
const Entry* FindEntry(const std::array<Entry, N>& table,
                       const MessageOps* ops) {
  if constexpr (N <= 8) {
    for (const Entry& e : table) {
      if (e.ops == ops) return &e;
    }
    return nullptr;
  } else {
    auto it = std::lower_bound(
        table.begin(), table.end(), ops,
        [](const Entry& e, const MessageOps* o) { return e.ops < o; });
    return it != table.end() && it->ops == ops ? &*it : nullptr;
  }
}

template <class Entry, size_t N>
std::array<Entry, N> Sorted(std::array<Entry, N> table) {
  std::sort(table.begin(), table.end(),
            [](const Entry& a, const Entry& b) { return a.ops < b.ops; });
  return table;
}

// The virtual On of one message type, for actors.
template <class M, bool = kIsRequest<M>>
class ActorOn {
 public:
  virtual void On(M& message) = 0;

 protected:
  ~ActorOn() = default;
};
template <class M>
class ActorOn<M, true> {
 public:
  virtual void On(M& request, Promise<typename M::Reply> reply) = 0;

 protected:
  ~ActorOn() = default;
};

// ... and for connection handlers.
template <class M, bool = kIsRequest<M>>
class HandlerOn {
 public:
  virtual Action On(Conn& conn, M& message) = 0;

 protected:
  ~HandlerOn() = default;
};
template <class M>
class HandlerOn<M, true> {
 public:
  virtual Action On(Conn& conn, M& request,
                    Promise<typename M::Reply> reply) = 0;

 protected:
  ~HandlerOn() = default;
};

template <class Entry, size_t... Ns>
std::array<Entry, (Ns + ... + 0)> Concat(const std::array<Entry, Ns>&... parts) {
  std::array<Entry, (Ns + ... + 0)> out{};
  size_t i = 0;
  ((std::copy(parts.begin(), parts.end(), out.begin() + i), i += Ns), ...);
  return out;
}

// The entries of M: its own type (Calls<M>::Plain) and, for a request,
// Request<M> (Calls<M>::Asked).
template <class Entry, template <class> class Calls, class M>
constexpr auto EntriesOf() {
  if constexpr (kIsRequest<M>) {
    return std::array<Entry, 2>{
        Entry{&kMessageOps<M>, &Calls<M>::Plain},
        Entry{&kMessageOps<Request<M>>, &Calls<M>::Asked}};
  } else {
    return std::array<Entry, 1>{Entry{&kMessageOps<M>, &Calls<M>::Plain}};
  }
}

// A class's dispatch table, built on first use.
template <class Entry, template <class> class Calls, class... Ms>
const auto& TableOf() {
  static const auto table = Sorted(Concat(EntriesOf<Entry, Calls, Ms>()...));
  return table;
}

}  // namespace internal

template <class... Ms>
class Receives : public Actor, public internal::ActorOn<Ms>... {
 public:
  using Messages = TypeList<Ms...>;
  using internal::ActorOn<Ms>::On...;

  void Receive(Envelope& message) final {
    if (const Entry* e = internal::FindEntry(Table(), message.ops())) {
      e->fn(*this, message);
      return;
    }
    internal::CountUnhandled(message, self());
    Unhandled(message);
  }
  // A message of a type not listed (already counted). Loop thread.
  virtual void Unhandled(Envelope& message) {}

 private:
  using Fn = void (*)(Receives&, Envelope&);
  using Entry = internal::DispatchEntry<Fn>;

  template <class M>
  struct Calls {
    static void Plain(Receives& self, Envelope& e) {
      M* m = e.As<M>();
      if constexpr (kIsRequest<M>) {
        static_cast<internal::ActorOn<M>&>(self).On(
            *m, Promise<typename M::Reply>());
      } else {
        static_cast<internal::ActorOn<M>&>(self).On(*m);
      }
    }
    static void Asked(Receives& self, Envelope& e) {
      if constexpr (kIsRequest<M>) {
        Request<M>* r = e.As<Request<M>>();
        static_cast<internal::ActorOn<M>&>(self).On(r->message,
                                                    std::move(r->reply));
      }
    }
  };
  static const auto& Table() {
    return internal::TableOf<Entry, Calls, Ms...>();
  }
};

template <class... Ms>
class ConnReceives : public Handler, public internal::HandlerOn<Ms>... {
 public:
  using Messages = TypeList<Ms...>;
  using internal::HandlerOn<Ms>::On...;

  Action OnMessage(Conn& conn, Envelope& message) final {
    if (const Entry* e = internal::FindEntry(Table(), message.ops())) {
      return e->fn(*this, conn, message);
    }
    internal::CountUnhandledConn(message, conn);
    return Unhandled(conn, message);
  }
  // A message of a type not listed (already counted). Loop thread.
  virtual Action Unhandled(Conn& conn, Envelope& message) {
    return Action::kNone;
  }

 private:
  using Fn = Action (*)(ConnReceives&, Conn&, Envelope&);
  using Entry = internal::DispatchEntry<Fn>;

  template <class M>
  struct Calls {
    static Action Plain(ConnReceives& self, Conn& conn, Envelope& e) {
      M* m = e.As<M>();
      if constexpr (kIsRequest<M>) {
        return static_cast<internal::HandlerOn<M>&>(self).On(
            conn, *m, Promise<typename M::Reply>());
      } else {
        return static_cast<internal::HandlerOn<M>&>(self).On(conn, *m);
      }
    }
    static Action Asked(ConnReceives& self, Conn& conn, Envelope& e) {
      if constexpr (kIsRequest<M>) {
        Request<M>* r = e.As<Request<M>>();
        return static_cast<internal::HandlerOn<M>&>(self).On(
            conn, r->message, std::move(r->reply));
      } else {
        return Action::kNone;
      }
    }
  };
  static const auto& Table() {
    return internal::TableOf<Entry, Calls, Ms...>();
  }
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_TYPED_H_
