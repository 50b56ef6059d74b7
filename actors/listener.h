// ListenSocket and Listener: serving one address. A ListenSocket is what
// Engine::Listen configures (address, handler factory, bound sockets: one,
// or one per loop with `?reuseport=true` and always for UDP); immutable
// once the engine starts, read by every loop. A Listener is the actor that
// accepts on one listening stream socket on one loop and hands each
// connection to a loop; UDP addresses get a datagram view per loop instead
// (datagram_conn.h).
// Thread contract: a Listener runs on its loop's thread only;
// ListenSocket::WarnAcceptPaused is thread-safe.
#ifndef ACTNET_ACTORS_LISTENER_H_
#define ACTNET_ACTORS_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "actors/actor.h"
#include "actors/handler.h"
#include "balance/balancer.h"
#include "io/address.h"
#include "io/backend.h"
#include "io/unique_fd.h"
#include "tls/tls_context.h"

namespace actnet::internal {

class LoopActor;

class ListenSocket {
 public:
  ListenSocket(io::Address address, HandlerFactory factory);

  const io::Address& address() const { return address_; }
  const io::SocketAddress& bound_address() const { return bound_; }
  bool per_loop() const { return per_loop_; }
  bool is_tcp() const {
    return io::IsStream(address_.network) &&
           address_.network != io::Network::kUnix;
  }
  bool is_datagram() const { return io::IsDatagram(address_.network); }
  std::unique_ptr<Handler> MakeHandler() const { return factory_(); }
  // tls:// (null for plain): the server context every loop shares.
  const std::shared_ptr<tls::TlsContext>& tls() const { return tls_; }
  void set_tls(std::shared_ptr<tls::TlsContext> tls) { tls_ = std::move(tls); }

  // Binds: one socket, or one per loop.
  absl::Status Bind(int loops);
  // The socket loop i serves (the single socket unless per_loop()).
  int fd_for_loop(int i) const;
  // Closes every socket; removes the unix socket file.
  void Close();
  // A rate-limited "pausing accepts" warning (every loop of a reuseport
  // address may report). Thread-safe.
  void WarnAcceptPaused(int err) const;

 private:
  static constexpr absl::Duration kAcceptWarningInterval = absl::Seconds(10);

  io::Address address_;
  HandlerFactory factory_;
  std::shared_ptr<tls::TlsContext> tls_;
  bool per_loop_ = false;
  std::vector<io::UniqueFd> fds_;
  io::SocketAddress bound_;
  mutable std::atomic<uint64_t> accept_pauses_{0};
  mutable std::atomic<uint64_t> warned_pauses_{0};
  mutable std::atomic<int64_t> last_warning_ns_{0};
};

// A Listener has an ActorRef like any actor. It hands each accepted socket
// to a loop chosen by its balancer: its own loop directly, another as an
// Adopt task through that loop's mailbox (the task owns the fd, so a
// hand-off that is never delivered closes it). With reuseport every loop
// has its own Listener and keeps what it accepts; the kernel balances.
// Accept errors never spin and never stop the server: transient ones are
// skipped, and resource errors (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause
// accepting on that socket for accept_backoff, then it retries. Once the
// engine stops, a Listener accepts nothing more.
class Listener final : public Actor, public io::AcceptSink {
 public:
  // `balance`: pick a loop for each connection (else keep them all).
  Listener(LoopActor* loop, const ListenSocket* socket, int fd, bool balance,
           balance::Strategy strategy);
  ~Listener() override;

  // Registers the socket with the loop's backend.
  absl::Status Open();
  // Stops accepting for good (the engine is stopping).
  void Stop();

  // Messages to a listener are ignored (it takes none yet).
  void Receive(Envelope& message) override {}

  // io::AcceptSink.
  void OnAccepted(io::UniqueFd fd, const io::SocketAddress& peer) override;
  void OnAcceptError(int err) override;

 private:
  LoopActor* loop_;
  const ListenSocket* socket_;
  int fd_;
  std::unique_ptr<balance::Balancer> balancer_;  // null: keep every socket
  io::Handle handle_ = io::kNoHandle;
  bool paused_ = false;
  bool stopped_ = false;
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_LISTENER_H_
