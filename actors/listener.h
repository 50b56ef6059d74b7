// Listener: the actor that accepts sockets for one bound address and hands
// each to a loop chosen by the balancer, as an Adopt message through that
// loop's mailbox (or directly, when the chosen loop is its own). With
// `?reuseport=true` every loop owns a listening socket of its own and the
// kernel balances; the balancer is then not consulted.
//
// Accept errors never spin and never stop the server: EAGAIN ends a batch,
// transient errors (ECONNABORTED, EINTR, EPROTO, EPERM) are skipped, and
// resource errors (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause accepting on that
// socket for `accept_backoff`, then retry.
//
// Thread contract: the Listener's configuration is immutable once the
// engine starts and is read by every loop; OnReadable runs on the loop
// that owns the socket; the balancer is used only from one loop (the
// non-reuseport listener lives on loop 0).
#ifndef ACTNET_ACTORS_LISTENER_H_
#define ACTNET_ACTORS_LISTENER_H_

#include <atomic>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "actors/handler.h"
#include "balance/balancer.h"
#include "io/address.h"
#include "io/unique_fd.h"

namespace actnet {

class EventLoop;

class Listener {
 public:
  Listener(io::Address address, HandlerFactory factory,
           balance::Strategy strategy);

  const io::Address& address() const { return address_; }
  const io::SocketAddress& bound_address() const { return bound_; }
  bool per_loop() const { return per_loop_; }
  bool is_tcp() const {
    return io::IsStream(address_.network) &&
           address_.network != io::Network::kUnix;
  }
  bool is_datagram() const { return io::IsDatagram(address_.network); }
  std::unique_ptr<Handler> MakeHandler() const { return factory_(); }

  // Binds: one socket, or one per loop with reuseport. UDP always binds
  // one SO_REUSEPORT socket per loop, each read by its own loop.
  absl::Status Bind(int loops);
  // The socket for loop i (or the single socket when !per_loop()).
  int fd_for_loop(int i) const;
  // Closes every socket; removes the unix socket file.
  void Close();

  // Loop thread of the owning loop: accepts what is pending.
  void OnReadable(EventLoop& loop, int fd, bool* pause);

 private:
  io::Address address_;
  HandlerFactory factory_;
  std::unique_ptr<balance::Balancer> balancer_;
  bool per_loop_ = false;
  std::vector<io::UniqueFd> fds_;
  io::SocketAddress bound_;
  uint64_t rejected_ = 0;  // over max_connections (owning loop only)

  // Rate-limited "pausing accepts" warning (any loop of a reuseport
  // listener may log it).
  static constexpr absl::Duration kAcceptWarningInterval = absl::Seconds(10);
  void WarnAcceptPaused(int err);
  std::atomic<uint64_t> accept_pauses_{0};
  std::atomic<uint64_t> warned_pauses_{0};
  std::atomic<int64_t> last_warning_ns_{0};
};

}  // namespace actnet

#endif  // ACTNET_ACTORS_LISTENER_H_
