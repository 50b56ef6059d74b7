#include "tests/transport/transport_testing.h"

#include <netinet/in.h>
#include <sys/socket.h>

namespace actnet::transport {

io::UniqueFd BindLoopback(int backlog, int* port) {
  io::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (!fd.IsValid() || ::bind(fd.Get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      (backlog > 0 && ::listen(fd.Get(), backlog) != 0) ||
      ::getsockname(fd.Get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return io::UniqueFd();
  }
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace actnet::transport
