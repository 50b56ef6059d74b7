#include "actors/listener.h"

#include <string.h>
#include <unistd.h>

#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/time/clock.h"
#include "actors/loop_actor.h"
#include "io/socket.h"

namespace actnet::internal {

// ---------------------------------------------------------------------------
// ListenSocket.

ListenSocket::ListenSocket(io::Address address, HandlerFactory factory)
    : address_(std::move(address)), factory_(std::move(factory)) {}

absl::Status ListenSocket::Bind(int loops) {
  io::Address addr = address_;
  if (is_datagram()) {
    per_loop_ = true;
    addr.options.reuseport = loops > 1 || addr.options.reuseport;
  } else {
    per_loop_ = address_.options.reuseport && is_tcp() && loops > 1;
  }
  const int count = per_loop_ ? loops : 1;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<io::UniqueFd> fd =
        is_datagram() ? io::BindDatagram(addr) : io::ListenStream(addr);
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

int ListenSocket::fd_for_loop(int i) const {
  return per_loop_ ? fds_[static_cast<size_t>(i)].Get() : fds_[0].Get();
}

void ListenSocket::Close() {
  const bool had_socket = !fds_.empty();
  fds_.clear();
  if (had_socket && address_.network == io::Network::kUnix &&
      !address_.path.empty() && address_.path[0] != '@') {
    ::unlink(address_.path.c_str());
  }
}

void ListenSocket::WarnAcceptPaused(int err) const {
  // Under sustained fd exhaustion the listener pauses every accept_backoff;
  // one line per interval says so without flooding the log.
  const uint64_t pauses =
      accept_pauses_.fetch_add(1, std::memory_order_relaxed) + 1;
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t last = last_warning_ns_.load(std::memory_order_relaxed);
  if (last != 0 &&
      now - last < absl::ToInt64Nanoseconds(kAcceptWarningInterval))
    return;
  if (!last_warning_ns_.compare_exchange_strong(last, now,
                                                std::memory_order_relaxed)) {
    return;  // another loop of this address just logged
  }
  const uint64_t since =
      pauses - warned_pauses_.exchange(pauses, std::memory_order_relaxed);
  ABSL_RAW_LOG(
      WARNING,
      "accept on %s: %s; pausing accepts (%llu pauses since the last "
      "warning, at most one warning per %lld s)",
      address_.ToString().c_str(), strerror(err),
      static_cast<unsigned long long>(since),
      static_cast<long long>(absl::ToInt64Seconds(kAcceptWarningInterval)));
}

// ---------------------------------------------------------------------------
// Listener.

Listener::Listener(LoopActor* loop, const ListenSocket* socket, int fd,
                   bool balance, balance::Strategy strategy)
    : loop_(loop),
      socket_(socket),
      fd_(fd),
      balancer_(balance ? balance::MakeBalancer(strategy) : nullptr) {}

Listener::~Listener() { Stop(); }

absl::Status Listener::Open() {
  absl::StatusOr<io::Handle> h =
      loop_->backend->AddAcceptor(fd_, this, loop_->owner);
  if (!h.ok()) return h.status();
  handle_ = *h;
  return absl::OkStatus();
}

void Listener::Stop() {
  stopped_ = true;
  if (handle_ != io::kNoHandle)
    loop_->backend->Close(handle_, io::CloseMode::kRelease);
  handle_ = io::kNoHandle;
}

void Listener::OnAcceptError(int err) {
  // The backend has stopped accepting on the socket: the pending
  // connection stays in the backlog, so retry after a pause, not at once.
  socket_->WarnAcceptPaused(err);
  loop_->accept_pauses().Add();
  if (paused_ || stopped_) return;
  paused_ = true;
  loop_->RunAfter(loop_->options->accept_backoff, [loop = loop_, me = self()] {
    auto* l = static_cast<Listener*>(loop->Find(me));
    if (l == nullptr || !l->paused_ || l->stopped_) return;
    l->paused_ = false;
    loop->backend->ResumeAccept(l->handle_);
  });
}

void Listener::OnAccepted(io::UniqueFd fd, const io::SocketAddress& peer) {
  const LoopLink& link = loop_->link();
  // Stopping: accept nothing more; the socket closes here.
  if (stopped_ || link.stop_requested->load(std::memory_order_relaxed)) return;
  Admission admission;
  if (const int64_t limit = loop_->options->max_connections; limit > 0) {
    admission = Admission(link.admitted, limit);
    if (!admission.held()) {
      loop_->rejected().Add();
      return;  // closed at once by fd's destructor
    }
  }
  uint32_t target = loop_->index();
  if (balancer_ != nullptr && link.loads.size() > 1) {
    target = static_cast<uint32_t>(
        balancer_->Pick(peer.data(), peer.size(), link.loads));
  }
  if (target == loop_->index()) {
    loop_->Adopt(std::move(fd), peer, socket_, std::move(admission));
    return;
  }
  // The Adopt task owns the fd: if it cannot be sent or is never
  // delivered, the fd closes with it.
  Envelope task;
  task.EmplaceTask(MessageTarget{}, [fd = std::move(fd), peer, socket = socket_,
                                     admission = std::move(admission)](
                                        void* context) mutable {
    static_cast<LoopActor*>(static_cast<EventLoop*>(context))
        ->Adopt(std::move(fd), peer, socket, std::move(admission));
  });
  absl::Status s = loop_->SendFromLoop(target, std::move(task));
  if (!s.ok()) {
    ABSL_RAW_LOG(WARNING, "dropping a connection on %s: %s",
                 socket_->address().ToString().c_str(), s.ToString().c_str());
  }
}

}  // namespace actnet::internal
