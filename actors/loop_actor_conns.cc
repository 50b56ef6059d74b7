// LoopActor: connections and listeners come to the loop: accepted sockets
// (Adopt), dials, enrolled sockets, and the listening sockets it serves.
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "actors/datagram_conn.h"
#include "actors/listener.h"
#include "actors/loop_actor.h"
#include "actors/stream_conn.h"
#include "io/socket.h"
#include "tls/tls_context.h"

namespace actnet::internal {

template <class C, class... Args>
C* LoopActor::AddConn(bool counted, Args&&... args) {
  auto conn = std::make_unique<C>(static_cast<ConnContext*>(this),
                                  std::forward<Args>(args)...);
  C* raw = conn.get();
  actors_.Register(std::move(conn));
  if (counted) {
    ++connections_;
    link_.loads[index()].fetch_add(1, std::memory_order_relaxed);
  }
  return raw;
}

void LoopActor::OpenListenSocket(ListenSocket* socket, int fd) {
  if (socket->is_datagram()) {
    std::unique_ptr<Handler> handler = socket->MakeHandler();
    if (handler == nullptr) return;
    AddConn<DatagramConn>(/*counted=*/false, std::move(handler),
                          io::SocketAddress(), /*listener_view=*/true)
        ->OpenView(fd);
    return;
  }
  const bool balance = !socket->per_loop() && link_.loads.size() > 1;
  auto listener =
      std::make_unique<Listener>(this, socket, fd, balance, options_.balancer);
  Listener* raw = listener.get();
  absl::Status s = raw->Open();
  if (!s.ok()) {
    ABSL_RAW_LOG(FATAL, "listening on %s: %s",
                 socket->address().ToString().c_str(), s.ToString().c_str());
    return;
  }
  actors_.Register(std::move(listener));
  listeners_.push_back(raw);
}

void LoopActor::Adopt(io::UniqueFd fd, const io::SocketAddress& peer,
                      const ListenSocket* from, Admission admission) {
  if (stopping) return;  // the fd closes with the UniqueFd
  if (from->is_tcp()) {
    if (options_.tcp_nodelay) (void)io::SetNoDelay(fd.Get(), true);
    if (options_.tcp_keepalive > absl::ZeroDuration()) {
      (void)io::SetKeepAlive(
          fd.Get(), true,
          static_cast<int>(absl::ToInt64Seconds(options_.tcp_keepalive)));
    }
  }
  std::unique_ptr<Handler> handler = from->MakeHandler();
  if (handler == nullptr) return;
  AddConn<StreamConn>(/*counted=*/true, std::move(handler), peer)
      ->Accept(std::move(fd), std::move(admission), from->tls());
}

void LoopActor::Dial(const io::Address& address,
                     const io::SocketAddress& remote,
                     std::unique_ptr<Handler> handler, DialCallback done,
                     absl::Duration timeout,
                     std::shared_ptr<tls::TlsContext> tls,
                     std::string destination) {
  std::string target =
      tls != nullptr ? tls::TlsUrlOf(address.ToString()) : address.ToString();
  if (stopping) {
    done(absl::CancelledError(
        absl::StrCat("dial ", target, ": engine stopping")));
    return;
  }
  if (io::IsDatagram(address.network)) {
    AddConn<DatagramConn>(/*counted=*/true, std::move(handler), remote,
                          /*listener_view=*/false)
        ->Dial(remote, std::move(target), std::move(done));
    return;
  }
  AddConn<StreamConn>(/*counted=*/true, std::move(handler), remote)
      ->Dial(remote, std::move(target), address.network != io::Network::kUnix,
             timeout, std::move(done), std::move(tls), std::move(destination));
}

void LoopActor::Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                       DialCallback done, bool datagram,
                       std::shared_ptr<tls::TlsContext> tls) {
  if (stopping) {
    done(absl::CancelledError("enroll: engine stopping"));
    return;
  }
  absl::StatusOr<io::SocketAddress> peer = io::PeerAddress(fd.Get());
  const io::SocketAddress remote = peer.ok() ? *peer : io::SocketAddress();
  if (datagram) {
    AddConn<DatagramConn>(/*counted=*/true, std::move(handler), remote,
                          /*listener_view=*/false)
        ->Enroll(std::move(fd), std::move(done));
    return;
  }
  AddConn<StreamConn>(/*counted=*/true, std::move(handler), remote)
      ->Enroll(std::move(fd), std::move(done), std::move(tls));
}

}  // namespace actnet::internal
