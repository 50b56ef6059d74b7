// Helpers for the actor API tests (issue 19): an engine started for a test
// (listening on loopback when asked) and stopped when the test ends, an
// open-fd leak check, running a function on a loop and waiting for it,
// fencing the lane between two loops, spawning and closing actors from the
// test thread, a thread-safe event log, an actor lifetime count and the
// connection handlers the tests share. Everything waits with WaitFor-style
// deadlines and std:: synchronisation (Debian's Abseil is not
// TSan-instrumented).
#ifndef ACTNET_TESTS_INTEGRATION_ACTOR_API_TESTING_H_
#define ACTNET_TESTS_INTEGRATION_ACTOR_API_TESTING_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {

// Counts the open fds when made and, when destroyed, checks that no more are
// open (CheckNoFdLeak). Declare it first in a test, so that it outlives the
// test's engines and clients. A test that ends on a failed REQUIRE skips the
// check.
class FdLeakCheck {
 public:
  FdLeakCheck() : before_(CountOpenFds()) {}
  ~FdLeakCheck();
  FdLeakCheck(const FdLeakCheck&) = delete;
  FdLeakCheck& operator=(const FdLeakCheck&) = delete;

 private:
  const int before_;
};

// A handler factory that makes an H(args...) for each connection, as
// Engine::Listen<H>(url, args...) does.
template <class H, class... Args>
HandlerFactory HandlersOf(Args... args) {
  return [args...]() -> std::unique_ptr<Handler> {
    return std::make_unique<H>(args...);
  };
}

// An Engine started for a test and stopped when the test ends: the
// destructor stops it and CHECKs that it stopped within 10 s (a second
// Stop and Wait are harmless). Declare it after everything its actors and
// handlers point to, so that it stops before those go. The second
// constructor first listens on tcp://127.0.0.1:0 with handlers from
// `factory` that record their connections in `log`.
class RunningEngine : public Engine {
 public:
  explicit RunningEngine(EngineOptions options = Loops(2));
  RunningEngine(ConnLog* log, HandlerFactory factory,
                EngineOptions options = Loops(2));
  ~RunningEngine();
  RunningEngine(const RunningEngine&) = delete;
  RunningEngine& operator=(const RunningEngine&) = delete;

  // Stops the engine and REQUIREs that it stopped within 10 s.
  void StopAndWait();
  // A client of the listener, once its connection has opened, and that
  // connection's ref.
  std::pair<Client, ActorRef> ConnectClient();
  // `n` clients connected one after another (ConnectClient); their
  // connections' refs are log->opened_refs(), in the same order.
  std::vector<Client> ConnectClients(int n);

 private:
  ConnLog* log_ = nullptr;
};

// Reads want.size() bytes from `client` (10 s) and CHECKs that they are
// `want`; true if they all came and were.
bool ReadExpected(Client& client, const std::string& want);

// Takes the next '\n'-terminated line from the connection's input and
// returns it without the newline; nullopt while no whole line is buffered.
std::optional<std::string> TakeLine(Conn& conn);

// Echoes every byte and records its connection in a ConnLog.
class LoggedEcho : public LoggedHandler {
 public:
  using LoggedHandler::LoggedHandler;
  Action OnData(Conn& conn) override;
};

// A typed connection handler (ConnReceives<Ms...>) that records its
// connection in a ConnLog and discards what its client sends; a subclass
// that reads overrides OnData.
template <class... Ms>
class LoggedConnReceives : public ConnReceives<Ms...> {
 public:
  explicit LoggedConnReceives(ConnLog* log) : log_(log) {}
  Action OnOpen(Conn& conn) override {
    log_->Opened(conn.ref());
    return Action::kNone;
  }
  void OnClose(Conn& conn, const CloseReason& why) override {
    log_->Closed(conn.ref(), why);
  }
  Action OnData(Conn& conn) override {
    conn.Discard();
    return Action::kNone;
  }

 private:
  ConnLog* log_;
};

// A thread-safe log of short event strings, appended on loop threads and
// read by the test thread.
class Events {
 public:
  void Add(std::string event);
  std::vector<std::string> All() const;
  size_t size() const;
  // How many events equal `event`.
  int Count(const std::string& event) const;
  // Waits (with Slack) until at least n events are logged.
  bool WaitSize(size_t n, Clock::duration timeout = seconds(10)) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

// A one-shot hand-off of a value from a loop thread to the test thread.
template <class T>
class Slot {
 public:
  void Set(T value) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ = std::move(value);
    cv_.notify_all();
  }
  // The value, once set within `timeout` (Slack'd); nullopt otherwise.
  std::optional<T> Wait(Clock::duration timeout = seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, testing::Slack(timeout),
                 [this] { return value_.has_value(); });
    return value_;
  }
  bool has_value() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_.has_value();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// Runs fn(EventLoop&) on loop `loop` and returns its result once it has
// run (REQUIREs that it was accepted and ran in time).
template <class F>
auto OnLoop(Engine& engine, uint32_t loop, F fn) {
  using R = std::invoke_result_t<F&, EventLoop&>;
  if constexpr (std::is_void_v<R>) {
    OnLoop(engine, loop, [&fn](EventLoop& l) {
      fn(l);
      return true;
    });
  } else {
    auto result = std::make_shared<Slot<R>>();
    REQUIRE(engine
                .Post(loop, [result, &fn](EventLoop& l) { result->Set(fn(l)); })
                .ok());
    std::optional<R> r = result->Wait();
    REQUIRE(r.has_value());
    return std::move(*r);
  }
}

// Returns once everything loop `from` has sent to loop `to` (messages and
// tasks, through their per-sender FIFO lane) has been processed on `to`.
void Fence(Engine& engine, uint32_t from, uint32_t to);

// Spawns an A made from `args` on loop `loop` through the thread-safe
// Engine::Spawn and waits for its ref.
template <class A, class... Args>
Ref<A> SpawnOn(Engine& engine, uint32_t loop, Args&&... args) {
  auto ref = std::make_shared<Slot<absl::StatusOr<ActorRef>>>();
  REQUIRE(engine
              .Spawn(loop, std::make_unique<A>(std::forward<Args>(args)...),
                     [ref](absl::StatusOr<ActorRef> r) { ref->Set(r); })
              .ok());
  std::optional<absl::StatusOr<ActorRef>> r = ref->Wait();
  REQUIRE(r.has_value());
  REQUIRE(r->ok());
  return Ref<A>(**r);
}

// Engine::Close(ref, done) from the test thread: what `done` said, and the
// loop it ran on. REQUIREs that Close accepted the request.
struct Closed {
  absl::Status status;
  int loop = -1;
};
Closed CloseAndWait(Engine& engine, const ActorRef& ref);
// The same without waiting: the slot fills when `done` runs.
std::shared_ptr<Slot<Closed>> CloseAsync(Engine& engine, const ActorRef& ref);

// Counts live instances of the actors that hold one (a lifetime probe).
class Lifetimes {
 public:
  class Token {
   public:
    explicit Token(Lifetimes* l) : l_(l) { l_->live_.fetch_add(1); }
    ~Token() {
      l_->live_.fetch_sub(1);
      l_->destroyed_.fetch_add(1);
    }
    Token(const Token&) = delete;
    Token& operator=(const Token&) = delete;

   private:
    Lifetimes* l_;
  };
  int live() const { return live_.load(); }
  int destroyed() const { return destroyed_.load(); }

 private:
  std::atomic<int> live_{0};
  std::atomic<int> destroyed_{0};
};

// The loop index the calling code runs on (-1 on a non-loop thread).
inline int CurrentLoop() {
  EventLoop* l = EventLoop::Current();
  return l == nullptr ? -1 : static_cast<int>(l->index());
}

// An actor that does nothing with what it gets: a plain asker or watcher.
class Idle : public Actor {
 public:
  void Receive(Envelope& message) override {}
};

// Engine options with `n` loops, one thread each (no co-hosting), so a
// test that holds one loop's thread never holds another's.
EngineOptions SeparateLoops(int n);

std::string StatusName(const absl::Status& s);

}  // namespace actnet::integration

#endif  // ACTNET_TESTS_INTEGRATION_ACTOR_API_TESTING_H_
