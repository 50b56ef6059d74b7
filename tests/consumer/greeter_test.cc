// The greeter served on loopback by a two-loop engine, driven by blocking
// client sockets: every client gets its own visitor number from the counter
// on loop 0, then its bytes echoed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "greeter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>

#include "doctest/doctest.h"

namespace {

// A connected blocking socket with a 5 s receive timeout, or -1.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads up to and including '\n' ("" on timeout or EOF first).
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1) {
    line += c;
    if (c == '\n') return line;
  }
  return "";
}

}  // namespace

TEST_CASE("each client gets its own visitor number, then an echo") {
  actnet::Engine engine({.loops = 2});
  actnet::ActorRef counter = engine.Spawn(0, std::make_unique<Counter>(engine));
  REQUIRE(engine.Listen<Greeter>("tcp://127.0.0.1:0", counter).ok());
  REQUIRE(engine.Start().ok());
  std::string url = engine.ListenAddresses().at(0);
  int port = std::stoi(url.substr(url.rfind(':') + 1));

  std::set<std::string> greetings;
  for (int i = 0; i < 4; ++i) {
    int fd = Connect(port);
    REQUIRE(fd >= 0);
    greetings.insert(ReadLine(fd));
    REQUIRE(write(fd, "ping\n", 5) == 5);
    CHECK(ReadLine(fd) == "ping\n");
    close(fd);
  }
  CHECK(greetings == std::set<std::string>{"visitor #1\n", "visitor #2\n",
                                           "visitor #3\n", "visitor #4\n"});
  engine.Stop();
  engine.Wait();
}
