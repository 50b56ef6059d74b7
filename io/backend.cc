#include "io/backend.h"

#include <errno.h>

#include "io/socket.h"

namespace actnet::io {

bool ReceiveDatagram(int fd, char* buf, size_t size, DatagramSink* sink) {
  SocketAddress from;
  const ssize_t n = RecvFrom(fd, buf, size, &from);
  if (n < 0) {
    if (n != -EAGAIN && n != -EINTR) sink->OnDatagramError(static_cast<int>(-n));
    return false;
  }
  if (static_cast<size_t>(n) > size) {
    sink->OnDatagramTooLarge(static_cast<size_t>(n), from);
  } else {
    sink->OnDatagram(absl::string_view(buf, static_cast<size_t>(n)), from);
  }
  return true;
}

}  // namespace actnet::io
