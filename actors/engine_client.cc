// Engine, the client side: Dial, DialAndWait and Enroll hand a connection
// to a loop, which owns it from then on.
#include <sys/socket.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/engine.h"
#include "actors/loop_actor.h"
#include "io/address.h"
#include "io/socket.h"
#include "tls/tls_context.h"

namespace actnet {
namespace {

// Holds a dial's callback across the hand-off to its loop: reported exactly
// once, by the loop that runs the dial, or with Cancelled if the task dies
// unrun (the engine stopped first), so no DialAndWait can wait forever.
// Copies share the callback (see PostDial).
class PendingDial {
 public:
  explicit PendingDial(DialCallback done)
      : state_(std::make_shared<State>(std::move(done))) {}
  DialCallback Take() { return std::exchange(state_->done, nullptr); }

 private:
  struct State {
    explicit State(DialCallback d) : done(std::move(d)) {}
    ~State() {
      if (done) done(absl::CancelledError("dial: the engine stopped first"));
    }
    DialCallback done;
  };
  std::shared_ptr<State> state_;
};

// Posts fn(LoopActor&, DialCallback) to `loop` for Dial and Enroll. If the
// post is refused (the loop has stopped, or its queue is full) the status
// says so and `done` is never called: the copy kept here withdraws it
// before the refused task's copy could report it a second time.
template <class F>
absl::Status PostDial(Engine& engine, uint32_t loop, DialCallback done, F fn) {
  PendingDial pending(std::move(done));
  PendingDial withdraw = pending;
  absl::Status s = engine.Post(
      loop,
      [fn = std::move(fn), pending = std::move(pending)](EventLoop& l) mutable {
        fn(static_cast<internal::LoopActor&>(l), pending.Take());
      });
  if (!s.ok()) withdraw.Take();
  return s;
}

}  // namespace

absl::StatusOr<std::shared_ptr<tls::TlsContext>> Engine::SharedTls(
    const TlsOptions& options, bool server) {
  const tls::Role role = server ? tls::Role::kServer : tls::Role::kClient;
  const std::string key = tls::OptionsKey(options, role);
  std::lock_guard<std::mutex> lock(tls_mu_);
  auto it = shared_tls_.find(key);
  if (it != shared_tls_.end()) return it->second;
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> made =
      tls::TlsContext::Create(options, role);
  if (!made.ok()) return made.status();
  shared_tls_.emplace(key, *made);
  return *made;
}

absl::Status Engine::Dial(absl::string_view url,
                          std::unique_ptr<Handler> handler, DialCallback done,
                          DialOptions options) {
  if (handler == nullptr || done == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("dial ", url, ": needs a handler and a callback"));
  }
  bool is_tls = false;
  absl::StatusOr<io::Address> address =
      io::ParseAddress(tls::TcpUrlOf(url, &is_tls));
  if (!address.ok()) return address.status();
  absl::StatusOr<io::SocketAddress> remote = address->Resolve();
  if (!remote.ok()) return remote.status();
  if (!started_) {
    return absl::FailedPreconditionError(
        absl::StrCat("dial ", url, ": start the engine first"));
  }
  std::shared_ptr<tls::TlsContext> context;
  std::string destination;
  if (is_tls) {
    absl::StatusOr<std::shared_ptr<tls::TlsContext>> made =
        SharedTls(options.tls, /*server=*/false);
    if (!made.ok()) {
      return absl::Status(made.status().code(), absl::StrCat("dial ", url, ": ",
                                                            made.status().message()));
    }
    context = std::move(*made);
    absl::string_view rest = url.substr(6);
    destination = std::string(rest.substr(0, rest.find('?')));
  }
  return PostDial(*this, PickDialLoop(options.loop), std::move(done),
                  [address = std::move(*address), remote = *remote,
                   handler = std::move(handler), timeout = options.timeout,
                   context = std::move(context),
                   destination = std::move(destination)](
                      internal::LoopActor& l, DialCallback callback) mutable {
                    l.Dial(address, remote, std::move(handler),
                           std::move(callback), timeout, std::move(context),
                           std::move(destination));
                  });
}

absl::StatusOr<ActorRef> Engine::DialAndWait(absl::string_view url,
                                             std::unique_ptr<Handler> handler,
                                             DialOptions options) {
  if (EventLoop::Current() != nullptr) {
    return absl::FailedPreconditionError(
        "DialAndWait would block an event loop: use Dial");
  }
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  absl::StatusOr<ActorRef> result;
  absl::Status s = Dial(
      url, std::move(handler),
      [&](absl::StatusOr<ActorRef> r) {
        std::lock_guard<std::mutex> lock(mu);
        result = std::move(r);
        ready = true;
        cv.notify_one();
      },
      options);
  if (!s.ok()) return s;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return ready; });
  return result;
}

absl::Status Engine::Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                            DialCallback done, EnrollOptions options) {
  if (!fd.IsValid() || handler == nullptr || done == nullptr) {
    return absl::InvalidArgumentError(
        "enroll: needs an fd, a handler and a callback");
  }
  if (!started_)
    return absl::FailedPreconditionError("enroll: start the engine first");
  absl::StatusOr<int> type = io::SocketType(fd.Get());
  if (!type.ok()) {
    return absl::Status(type.status().code(),
                        absl::StrCat("enroll: ", type.status().message()));
  }
  absl::Status nb = io::SetNonBlocking(fd.Get());
  if (!nb.ok())
    return absl::Status(nb.code(), absl::StrCat("enroll: ", nb.message()));
  const bool datagram = *type == SOCK_DGRAM;
  std::shared_ptr<tls::TlsContext> context;
  if (options.tls_role != EnrollOptions::Tls::kNone) {
    if (datagram) {
      return absl::InvalidArgumentError(
          "enroll: TLS needs a stream socket, not a datagram one");
    }
    absl::StatusOr<std::shared_ptr<tls::TlsContext>> made = SharedTls(
        options.tls, options.tls_role == EnrollOptions::Tls::kServer);
    if (!made.ok()) {
      return absl::Status(made.status().code(),
                          absl::StrCat("enroll: ", made.status().message()));
    }
    context = std::move(*made);
  }
  return PostDial(*this, PickDialLoop(options.loop), std::move(done),
                  [fd = std::move(fd), handler = std::move(handler), datagram,
                   context = std::move(context)](
                      internal::LoopActor& l, DialCallback callback) mutable {
                    l.Enroll(std::move(fd), std::move(handler),
                             std::move(callback), datagram,
                             std::move(context));
                  });
}

uint32_t Engine::PickDialLoop(int requested) {
  if (requested >= 0 && requested < num_loops()) {
    return static_cast<uint32_t>(requested);
  }
  if (EventLoop* current = CallingLoop()) return current->index();
  return next_dial_loop_.fetch_add(1, std::memory_order_relaxed) %
         static_cast<uint32_t>(loops_.size());
}

}  // namespace actnet
