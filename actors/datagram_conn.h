// DatagramConn: a UDP socket as a connection: a listener's view (one per
// loop for each udp:// address, on the listener's socket, borrowed) or a
// connected socket (Dial of udp://, or Enroll). Each datagram is one
// OnData; its unread bytes are dropped when the handler returns. Each
// Write sends one datagram at once; a full socket buffer drops it (UDP is
// lossy by contract) and counts it.
// Thread contract: the owning loop's thread only.
#ifndef ACTNET_ACTORS_DATAGRAM_CONN_H_
#define ACTNET_ACTORS_DATAGRAM_CONN_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "actors/conn_core.h"
#include "io/backend.h"
#include "io/unique_fd.h"

namespace actnet::internal {

// A listener's view: writes go to the sender of the datagram being handled;
// no OnOpen or OnClose, not counted among connections, and a handler
// cannot close it (it is the listener on that loop); the engine's stop
// does. A connected socket: OnOpen and OnClose like a stream; ICMP errors
// the kernel reports (ECONNREFUSED) close it.
class DatagramConn final : public ConnCore, public io::DatagramSink {
 public:
  DatagramConn(ConnContext* context, std::unique_ptr<Handler> handler,
               const io::SocketAddress& remote, bool listener_view);

  // A listener's view of `fd` (borrowed). False if the backend refused it.
  bool OpenView(int fd);
  // A connected socket: made by Dial, or adopted (Enroll). OnOpen, then
  // `done` with the ref, or `done` with the error.
  void Dial(const io::SocketAddress& remote, std::string target,
            DialCallback done);
  void Enroll(io::UniqueFd fd, DialCallback done);

  bool counted() const { return !listener_view_; }

  // Conn.
  void Write(absl::string_view data) override;
  void Flush() override {}
  size_t OutboundBytes() const override { return 0; }
  void Abort() override;
  void ShutdownWrite() override {}
  bool write_shut_down() const override { return false; }
  void PauseReading() override;
  void ResumeReading() override;
  bool peer_closed() const override { return false; }
  bool is_datagram() const override { return true; }

  // io::DatagramSink.
  void OnDatagram(absl::string_view data,
                  const io::SocketAddress& from) override;
  void OnDatagramTooLarge(size_t size, const io::SocketAddress& from) override;
  void OnDatagramError(int err) override;

 private:
  void RunHandler(absl::FunctionRef<Action()> fn) override;
  void CloseGracefully(CloseReason reason) override;
  void CloseNow(CloseReason reason) override;
  void Register(io::UniqueFd fd, DialCallback done);

  const bool listener_view_;
  bool in_handler_ = false;
  io::Handle handle_ = io::kNoHandle;
};

}  // namespace actnet::internal

#endif  // ACTNET_ACTORS_DATAGRAM_CONN_H_
