#include "actors/listener.h"

#include <errno.h>
#include <unistd.h>

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/time/clock.h"
#include "actors/engine.h"
#include "actors/event_loop.h"
#include "io/socket.h"

namespace actnet {
namespace {

// Accepts per readiness event before yielding to the rest of the loop.
constexpr int kAcceptsPerEvent = 64;

bool IsTransientAcceptError(int err) {
  return err == EINTR || err == ECONNABORTED || err == EPROTO ||
         err == EPERM || err == ECONNRESET;
}

}  // namespace

Listener::Listener(io::Address address, HandlerFactory factory,
                   balance::Strategy strategy)
    : address_(std::move(address)),
      factory_(std::move(factory)),
      balancer_(balance::MakeBalancer(strategy)) {}

absl::Status Listener::Bind(int loops) {
  io::Address addr = address_;
  if (is_datagram()) {
    per_loop_ = true;
    addr.options.reuseport = loops > 1 || addr.options.reuseport;
  } else {
    per_loop_ = address_.options.reuseport && is_tcp() && loops > 1;
  }
  const int count = per_loop_ ? loops : 1;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<io::UniqueFd> fd = is_datagram() ? io::BindDatagram(addr)
                                                    : io::ListenStream(addr);
    if (!fd.ok()) {
      Close();
      return fd.status();
    }
    if (i == 0) {
      absl::StatusOr<io::SocketAddress> local = io::LocalAddress(fd->Get());
      if (local.ok()) bound_ = *local;
      // Every per-loop socket must share the port the first one got.
      if (address_.network != io::Network::kUnix) addr.port = bound_.port();
    }
    fds_.push_back(std::move(*fd));
  }
  return absl::OkStatus();
}

int Listener::fd_for_loop(int i) const {
  return per_loop_ ? fds_[static_cast<size_t>(i)].Get() : fds_[0].Get();
}

void Listener::Close() {
  const bool had_socket = !fds_.empty();
  fds_.clear();
  if (had_socket && address_.network == io::Network::kUnix &&
      !address_.path.empty() && address_.path[0] != '@') {
    ::unlink(address_.path.c_str());
  }
}

void Listener::WarnAcceptPaused(int err) {
  // Under sustained fd exhaustion the listener pauses every accept_backoff;
  // one line per interval says so without flooding the log.
  const uint64_t pauses = accept_pauses_.fetch_add(1, std::memory_order_relaxed) + 1;
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t last = last_warning_ns_.load(std::memory_order_relaxed);
  if (last != 0 && now - last < absl::ToInt64Nanoseconds(kAcceptWarningInterval)) return;
  if (!last_warning_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    return;  // another loop of this listener just logged
  }
  const uint64_t since = pauses - warned_pauses_.exchange(pauses, std::memory_order_relaxed);
  ABSL_RAW_LOG(WARNING, "accept on %s: %s; pausing accepts (%llu pauses since the last warning, at most one warning per %lld s)",
               address_.ToString().c_str(), strerror(err),
               static_cast<unsigned long long>(since),
               static_cast<long long>(absl::ToInt64Seconds(kAcceptWarningInterval)));
}

void Listener::OnReadable(EventLoop& loop, int fd, bool* pause) {
  Engine& engine = loop.engine();
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    io::SocketAddress peer;
    const int result = io::AcceptNonBlocking(fd, &peer);
    if (result < 0) {
      const int err = -result;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (IsTransientAcceptError(err)) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: the pending connection
      // stays in the backlog and readiness would fire again at once, so
      // back off instead of spinning.
      WarnAcceptPaused(err);
      *pause = true;
      return;
    }
    io::UniqueFd conn_fd(result);
    const int64_t limit = engine.options().max_connections;
    Admission admission;
    if (limit > 0) {
      admission = Admission(&engine.admitted_, limit);
      if (!admission.held()) {
        ++rejected_;
        continue;  // closed at once by conn_fd's destructor
      }
    }
    uint32_t target = loop.index();
    if (!per_loop_ && engine.num_loops() > 1) {
      target = static_cast<uint32_t>(balancer_->Pick(
          peer.data(), peer.size(),
          absl::MakeConstSpan(engine.loads(),
                              static_cast<size_t>(engine.num_loops()))));
    }
    if (target == loop.index()) {
      loop.Adopt(std::move(conn_fd), peer, this, std::move(admission));
      continue;
    }
    // The Adopt message owns the fd: if it cannot be sent or is never
    // delivered, the fd closes with it.
    Listener* self = this;
    absl::Status s = engine.Post(
        target, [fd = std::move(conn_fd), peer, self,
                 admission = std::move(admission)](EventLoop& l) mutable {
          l.Adopt(std::move(fd), peer, self, std::move(admission));
        });
    if (!s.ok()) {
      ABSL_RAW_LOG(WARNING, "dropping a connection on %s: %s",
                   address_.ToString().c_str(), s.ToString().c_str());
    }
  }
}

}  // namespace actnet
