// EventLoop, the datagram and client halves: UDP listener views, datagram
// reads and writes, dialled (connecting) and enrolled connections.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "actors/engine.h"
#include "actors/event_loop.h"
#include "actors/listener.h"
#include "io/socket.h"

namespace actnet {
namespace {

// Datagrams read per readiness event before yielding to the rest of the loop.
constexpr int kDatagramsPerEvent = 64;

}  // namespace

void EventLoop::OpenDatagramView(Listener* listener, int fd) {
  std::unique_ptr<Handler> handler = listener->MakeHandler();
  if (handler == nullptr) return;
  // The listener keeps the socket; the view borrows it.
  Conn* conn = RegisterConn(io::UniqueFd(fd), std::move(handler),
                            io::SocketAddress(), Conn::State::kOpen,
                            io::kReadable, /*counted=*/false);
  if (conn == nullptr) return;
  conn->owns_fd_ = false;
  conn->datagram_ = true;
}

void EventLoop::HandleDatagrams(Conn& conn) {
  for (int i = 0; i < kDatagramsPerEvent && conn.state_ == Conn::State::kOpen &&
                  !conn.user_paused_;
       ++i) {
    ssize_t n;
    if (conn.udp_server_) {
      conn.remote_.set_size(io::SocketAddress::kCapacity);
      n = ::recvfrom(conn.fd(), scratch_.get(), datagram_buffer_size_,
                     MSG_TRUNC, conn.remote_.mutable_data(),
                     conn.remote_.mutable_size());
    } else {
      n = ::recv(conn.fd(), scratch_.get(), datagram_buffer_size_, MSG_TRUNC);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      // A connected UDP socket reports the peer's ICMP errors here
      // (ECONNREFUSED); a listener's view just goes on.
      if (!conn.udp_server_) {
        CloseNow(conn, CloseReason{CloseReason::Kind::kError, errno});
      }
      return;
    }
    if (static_cast<size_t>(n) > datagram_buffer_size_) {
      // MSG_TRUNC returned the real length: never hand out a cut datagram.
      ++truncated_datagrams_;
      ABSL_RAW_LOG(WARNING, "dropped a %zd-byte datagram from %s (buffer %zu)",
                   n, conn.remote_.ToString().c_str(), datagram_buffer_size_);
      continue;
    }
    conn.view_ = scratch_.get();
    conn.view_len_ = static_cast<size_t>(n);
    RunHandler(conn, [&conn] { return conn.handler().OnData(conn); });
  }
}

void EventLoop::SendDatagram(Conn& conn, absl::string_view data) {
  conn.bytes_queued_ += data.size();
  ssize_t n;
  if (conn.udp_server_) {
    n = ::sendto(conn.fd(), data.data(), data.size(), MSG_NOSIGNAL,
                 conn.remote_.data(), conn.remote_.size());
  } else {
    n = ::send(conn.fd(), data.data(), data.size(), MSG_NOSIGNAL);
  }
  if (n >= 0) {
    conn.bytes_sent_ += data.size();
    return;
  }
  // UDP is lossy by contract: a full socket buffer drops the datagram, as
  // the network would. Count it; a connected client also learns of errors.
  ++dropped_datagrams_;
  if (!conn.udp_server_ && errno != EAGAIN && errno != ENOBUFS) {
    CloseNow(conn, CloseReason{CloseReason::Kind::kError, errno});
  }
}

void EventLoop::Connect(const io::Address& address,
                        const io::SocketAddress& remote,
                        std::unique_ptr<Handler> handler, DialCallback done,
                        absl::Duration timeout) {
  const std::string target = address.ToString();
  if (stopping_) {
    done(absl::CancelledError(absl::StrCat("dial ", target, ": engine stopping")));
    return;
  }
  if (io::IsDatagram(address.network)) {
    absl::StatusOr<io::UniqueFd> fd = io::ConnectDatagram(remote);
    if (!fd.ok()) {
      done(fd.status());
      return;
    }
    Conn* conn = RegisterConn(std::move(*fd), std::move(handler), remote,
                              Conn::State::kConnecting, io::kReadable);
    if (conn == nullptr) {
      done(absl::InternalError(absl::StrCat("dial ", target, ": poller refused the socket")));
      return;
    }
    conn->datagram_ = true;
    conn->dial_done_ = std::move(done);
    OpenDialled(*conn);
    return;
  }
  bool in_progress = false;
  absl::StatusOr<io::UniqueFd> fd = io::ConnectStream(remote, &in_progress);
  if (!fd.ok()) {
    done(absl::Status(fd.status().code(),
                      absl::StrCat("dial ", target, ": ", fd.status().message())));
    return;
  }
  if (address.network != io::Network::kUnix && options_.tcp_nodelay) {
    (void)io::SetNoDelay(fd->Get(), true);
  }
  Conn* conn = RegisterConn(std::move(*fd), std::move(handler), remote,
                            Conn::State::kConnecting, io::kWritable);
  if (conn == nullptr) {
    done(absl::InternalError(absl::StrCat("dial ", target, ": poller refused the socket")));
    return;
  }
  conn->dial_done_ = std::move(done);
  conn->dial_target_ = target;
  if (!in_progress) {
    FinishConnect(*conn);
    return;
  }
  const ActorRef ref = conn->ref();
  RunAfter(timeout, [this, ref, target, timeout] {
    Conn* c = FindConn(ref);
    if (c == nullptr || c->state_ != Conn::State::kConnecting) return;
    DialCallback cb = std::move(c->dial_done_);
    CloseNow(*c, CloseReason{CloseReason::Kind::kConnectFailed, ETIMEDOUT});
    cb(absl::DeadlineExceededError(absl::StrCat(
        "dial ", target, ": no connection after ", absl::FormatDuration(timeout))));
  });
}

void EventLoop::FinishConnect(Conn& conn) {
  const int err = io::SocketError(conn.fd());
  if (err != 0) {
    DialCallback cb = std::move(conn.dial_done_);
    const std::string target = conn.dial_target_;
    CloseNow(conn, CloseReason{CloseReason::Kind::kConnectFailed, err});
    if (cb) cb(io::ErrnoStatus(err, absl::StrCat("dial ", target)));
    return;
  }
  SetInterest(conn, ReadInterest());
  OpenDialled(conn);
}

void EventLoop::OpenDialled(Conn& conn) {
  conn.state_ = Conn::State::kOpen;
  conn.dial_target_.clear();
  DialCallback cb = std::move(conn.dial_done_);
  const ActorRef ref = conn.ref();
  RunHandler(conn, [&conn] { return conn.handler().OnOpen(conn); });
  if (cb) cb(ref);
}

void EventLoop::Enroll(io::UniqueFd fd, std::unique_ptr<Handler> handler,
                       DialCallback done, bool datagram) {
  if (stopping_) {
    done(absl::CancelledError("enroll: engine stopping"));
    return;
  }
  absl::StatusOr<io::SocketAddress> peer = io::PeerAddress(fd.Get());
  Conn* conn = RegisterConn(std::move(fd), std::move(handler),
                            peer.ok() ? *peer : io::SocketAddress(),
                            Conn::State::kConnecting,
                            datagram ? io::kReadable : ReadInterest());
  if (conn == nullptr) {
    done(absl::InvalidArgumentError("enroll: the poller refused the fd"));
    return;
  }
  conn->datagram_ = datagram;
  conn->dial_done_ = std::move(done);
  OpenDialled(*conn);
}

}  // namespace actnet
