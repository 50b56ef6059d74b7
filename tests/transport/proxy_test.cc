// examples/proxy end to end: the built proxy in front of the built echo
// example (or an in-test slow echo), 8 MiB of random bytes byte-exact
// through it with a slow reader at the client and then at the backend,
// the proxy's RSS bounded meanwhile (back-pressure in both directions);
// unix sockets on both sides, several clients at once, a backend that
// refuses, half-closes relayed in both directions, and SIGTERM -> exit 0.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <cstdlib>
#include <fstream>

#include "doctest/doctest.h"
#include "tests/testing/tls_certs.h"
#include "tests/transport/transport_testing.h"

namespace actnet::transport {
namespace {

constexpr size_t kPayload = 8 << 20;
// Well under the payload: without back-pressure the proxy would hold most
// of the 8 MiB the slow side has not taken yet. Sanitized: ASan's
// quarantine and shadow memory make RSS meaningless as a bound.
constexpr int64_t kRssLimitKib = kSanitized ? 1 << 20 : 64 << 10;
constexpr int64_t kRssGrowthKib = kSanitized ? 1 << 20 : 4 << 10;

std::unique_ptr<ChildProcess> StartEcho(const std::string& addr) {
  return ChildProcess::Start(Runfile("examples/echo/echo"),
                             {"--addr=" + addr, "--loops=2"});
}

std::unique_ptr<ChildProcess> StartProxy(const std::string& listen,
                                         const std::string& backend) {
  return ChildProcess::Start(Runfile("examples/proxy/proxy"),
                             {"--listen=" + listen, "--backend=" + backend, "--loops=2"});
}

std::string Tcp(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

// Sends `data` from a writer thread while this thread reads it back in
// `chunk`-byte reads, pausing `pause` every `every` reads. Samples the
// proxy's RSS as it goes; returns what came back.
std::string PumpThrough(int fd, const std::string& data, size_t chunk,
                        int every, Clock::duration pause,
                        const ChildProcess& proxy, int64_t* max_rss_kib) {
  const Clock::time_point deadline = Clock::now() + seconds(120);
  std::atomic<bool> sent_ok{false};
  std::thread writer([&] { sent_ok = SendAll(fd, data, deadline); });
  std::string back;
  back.reserve(data.size());
  std::string buf(chunk, '\0');
  for (int reads = 1; back.size() < data.size(); ++reads) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      back.append(buf.data(), static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitReady(fd, POLLIN, deadline)) break;
      continue;
    } else {
      break;  // EOF or error: the CHECK on the bytes reports it
    }
    if (reads % every == 0) {
      *max_rss_kib = std::max(*max_rss_kib, proxy.RssKib());
      std::this_thread::sleep_for(pause);  // the slowness under test
    }
  }
  writer.join();
  CHECK(sent_ok);
  return back;
}

// A deliberately slow echo backend: accepts one connection and echoes it
// in small reads with pauses, from its own thread.
class SlowEcho {
 public:
  SlowEcho() {
    listener_ = BindLoopback(4, &port_);
    REQUIRE(listener_.IsValid());
    thread_ = std::thread([this] { Serve(); });
  }
  ~SlowEcho() {
    ::shutdown(listener_.Get(), SHUT_RDWR);  // wakes a pending accept
    thread_.join();
  }
  int port() const { return port_; }
  int64_t echoed() const { return echoed_; }

 private:
  void Serve() {
    const int fd = ::accept4(listener_.Get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    io::UniqueFd conn(fd);
    const int small = 16 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    char buf[8 * 1024];
    for (int reads = 1;; ++reads) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::send(fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) return;
        off += w;
      }
      echoed_ += n;
      if (reads % 2 == 0) std::this_thread::sleep_for(milliseconds(1));  // slow
    }
  }

  io::UniqueFd listener_;
  int port_ = 0;
  std::atomic<int64_t> echoed_{0};
  std::thread thread_;
};

TEST_SUITE("proxy") {
  TEST_CASE("8 MiB through proxy and echo with a slow client reader, RSS bounded") {
    auto echo = StartEcho("tcp://127.0.0.1:0");
    REQUIRE(echo != nullptr);
    auto proxy = StartProxy("tcp://127.0.0.1:0", Tcp(echo->port()));
    REQUIRE(proxy != nullptr);
    const int64_t rss_start = proxy->RssKib();
    Client client = Client::Connect(Tcp(proxy->port()));
    REQUIRE(client.valid());
    const int small = 32 * 1024;
    ::setsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    std::mt19937_64 rng(1);
    const std::string data = RandomBytes(rng, kPayload);
    int64_t max_rss = rss_start;
    const std::string back = PumpThrough(client.fd(), data, 4096, 4, milliseconds(1),
                                         *proxy, &max_rss);
    CHECK(back.size() == data.size());
    CHECK(back == data);
    MESSAGE("proxy RSS: start ", rss_start, " KiB, max ", max_rss, " KiB");
    CHECK(max_rss < kRssLimitKib);
    CHECK(max_rss - rss_start < kRssGrowthKib);
    client.Close();
    CHECK(proxy->Terminate() == 0);
    CHECK(echo->Terminate() == 0);
  }

  TEST_CASE("8 MiB through the proxy to a slow backend, RSS bounded") {
    SlowEcho backend;
    auto proxy = StartProxy("tcp://127.0.0.1:0", Tcp(backend.port()));
    REQUIRE(proxy != nullptr);
    Client client = Client::Connect(Tcp(proxy->port()));
    REQUIRE(client.valid());
    std::mt19937_64 rng(2);
    const std::string data = RandomBytes(rng, kPayload);
    const int64_t rss_start = proxy->RssKib();
    int64_t max_rss = rss_start;
    const std::string back = PumpThrough(client.fd(), data, 64 * 1024, 16,
                                         milliseconds(0), *proxy, &max_rss);
    CHECK(back.size() == data.size());
    CHECK(back == data);
    CHECK(backend.echoed() == static_cast<int64_t>(data.size()));
    MESSAGE("proxy RSS: start ", rss_start, " KiB, max ", max_rss, " KiB");
    CHECK(max_rss < kRssLimitKib);
    CHECK(max_rss - rss_start < kRssGrowthKib);
    client.Close();
    CHECK(proxy->Terminate() == 0);
  }

  TEST_CASE("unix on both sides, 8 clients at once") {
    TempDir dir;
    auto echo = StartEcho("unix://" + dir.File("echo.sock"));
    REQUIRE(echo != nullptr);
    auto proxy = StartProxy("unix://" + dir.File("proxy.sock"),
                            "unix://" + dir.File("echo.sock"));
    REQUIRE(proxy != nullptr);
    std::vector<std::thread> clients;
    std::atomic<int> failures{0};
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&, c] {
        std::mt19937_64 rng(100 + c);
        Client client = Client::Connect("unix://" + dir.File("proxy.sock"));
        const Clock::time_point deadline = Clock::now() + seconds(60);
        for (int r = 0; r < 16; ++r) {
          if (!client.valid() || !client.RoundTrip(RandomBytes(rng, 32 * 1024), deadline)) {
            ++failures;
            return;
          }
        }
      });
    }
    for (std::thread& t : clients) t.join();
    CHECK(failures == 0);
    CHECK(proxy->Terminate() == 0);
    CHECK(echo->Terminate() == 0);
  }

  // Regression: the client's FIN used to close the pair, so a client that
  // sent its request and shut down its side lost the reply still in flight.
  TEST_CASE("a client's half-close is relayed: the whole echo comes back, then EOF") {
    auto echo = StartEcho("tcp://127.0.0.1:0");
    REQUIRE(echo != nullptr);
    auto proxy = StartProxy("tcp://127.0.0.1:0", Tcp(echo->port()));
    REQUIRE(proxy != nullptr);
    for (int round = 0; round < 4; ++round) {
      CAPTURE(round);
      Client client = Client::Connect(Tcp(proxy->port()));
      REQUIRE(client.valid());
      std::mt19937_64 rng(50 + round);
      const std::string data = RandomBytes(rng, 1 << 20);
      const Clock::time_point deadline = Clock::now() + seconds(60);
      std::atomic<bool> sent_ok{false};
      std::thread writer([&] {
        sent_ok = SendAll(client.fd(), data, deadline);
        ::shutdown(client.fd(), SHUT_WR);
      });
      std::string back;
      char buf[64 * 1024];
      bool eof = false;
      while (!eof && WaitReady(client.fd(), POLLIN, deadline)) {
        const ssize_t n = ::recv(client.fd(), buf, sizeof(buf), 0);
        if (n > 0) {
          back.append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
          eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          break;
        }
      }
      writer.join();
      CHECK(sent_ok);
      CHECK(eof);
      CHECK(back.size() == data.size());
      CHECK((back == data));
    }
    CHECK(proxy->Terminate() == 0);
    CHECK(echo->Terminate() == 0);
  }

  TEST_CASE("a backend's half-close is relayed: the client sees EOF and can still send") {
    // A backend that answers "hello", shuts down its side, and then
    // collects what the client still sends until the client's FIN.
    int backend_port = 0;
    io::UniqueFd listener = BindLoopback(4, &backend_port);
    REQUIRE(listener.IsValid());
    std::string received;
    std::atomic<bool> backend_saw_eof{false};
    std::thread backend([&] {
      pollfd p{listener.Get(), POLLIN, 0};
      if (::poll(&p, 1, 20000) != 1) return;
      io::UniqueFd conn(::accept4(listener.Get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.IsValid()) return;
      if (::send(conn.Get(), "hello", 5, MSG_NOSIGNAL) != 5) return;
      ::shutdown(conn.Get(), SHUT_WR);
      char buf[256];
      for (;;) {
        pollfd q{conn.Get(), POLLIN, 0};
        if (::poll(&q, 1, 20000) != 1) return;
        const ssize_t n = ::recv(conn.Get(), buf, sizeof(buf), 0);
        if (n <= 0) {
          backend_saw_eof = n == 0;
          return;
        }
        received.append(buf, static_cast<size_t>(n));
      }
    });
    auto proxy = StartProxy("tcp://127.0.0.1:0", Tcp(backend_port));
    REQUIRE(proxy != nullptr);
    Client client = Client::Connect(Tcp(proxy->port()));
    REQUIRE(client.valid());
    const Clock::time_point deadline = Clock::now() + seconds(20);
    std::string hello;
    CHECK(RecvExactly(client.fd(), 5, &hello, deadline));
    CHECK(hello == "hello");
    // Then EOF, while the connection stays open for sending.
    REQUIRE(WaitReady(client.fd(), POLLIN, deadline));
    char c;
    CHECK(::recv(client.fd(), &c, 1, 0) == 0);
    CHECK(SendAll(client.fd(), "after the backend's FIN", deadline));
    ::shutdown(client.fd(), SHUT_WR);
    backend.join();
    CHECK(received == "after the backend's FIN");
    CHECK(backend_saw_eof);
    CHECK(proxy->Terminate() == 0);
  }

  TEST_CASE("a backend that refuses closes the client's connection") {
    int closed_port = 0;
    io::UniqueFd closed = BindLoopback(0, &closed_port);  // bound, not listening
    REQUIRE(closed.IsValid());
    auto proxy = StartProxy("tcp://127.0.0.1:0", Tcp(closed_port));
    REQUIRE(proxy != nullptr);
    Client client = Client::Connect(Tcp(proxy->port()));
    REQUIRE(client.valid());
    REQUIRE(WaitReady(client.fd(), POLLIN, Clock::now() + seconds(10)));
    char c;
    CHECK(::recv(client.fd(), &c, 1, 0) == 0);  // EOF
    CHECK(proxy->Terminate() == 0);
  }

  TEST_CASE("a bad backend URL stops the proxy before it listens") {
    auto proxy = StartProxy("tcp://127.0.0.1:0", "tcp://nowhere:1");
    CHECK(proxy == nullptr);
  }

  // TLS terminated on --listen and originated to a tls:// backend (the echo
  // example over TLS), checked by a Python ssl client.
  TEST_CASE("TLS both sides: 1 MiB byte-exact; a backend failing verification relays nothing") {
    const testutil::TestCerts& certs = testutil::Certificates();
    auto echo = ChildProcess::Start(
        Runfile("examples/echo/echo"),
        {"--addr=tls://127.0.0.1:0", "--loops=2", "--tls_cert=" + certs.cert,
         "--tls_key=" + certs.key});
    REQUIRE(echo != nullptr);
    TempDir dir;
    std::ofstream(dir.File("client.py")) << R"(
import os, socket, ssl, sys
port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                    server_hostname="127.0.0.1")
if mode == "echo":
    data = os.urandom(1 << 20)
    back = b""
    for at in range(0, len(data), 65536):
        s.sendall(data[at:at + 65536])
        while len(back) < min(at + 65536, len(data)):
            chunk = s.recv(1 << 16)
            assert chunk, "closed early"
            back += chunk
    print("same" if back == data else "different")
else:
    s.sendall(b"hello")
    try:
        got = s.recv(100)
    except (ssl.SSLError, ConnectionError) as e:
        got = b""
    print("closed empty" if got == b"" else "got %r" % got)
)";
    for (const bool verified : {true, false}) {
      CAPTURE(verified);
      auto proxy = ChildProcess::Start(
          Runfile("examples/proxy/proxy"),
          {"--listen=tls://127.0.0.1:0", "--tls_cert=" + certs.cert, "--tls_key=" + certs.key,
           "--backend=tls://127.0.0.1:" + std::to_string(echo->port()),
           "--tls_ca=" + (verified ? certs.ca : certs.other_ca), "--loops=2"});
      REQUIRE(proxy != nullptr);
      const std::string out = dir.File("out.txt");
      const std::string cmd = "timeout 60 python3 " + dir.File("client.py") + " " +
                              std::to_string(proxy->port()) + " " + certs.ca + " " +
                              (verified ? "echo" : "refused") + " > " + out + " 2>&1";
      CHECK(std::system(cmd.c_str()) == 0);
      std::ifstream in(out);
      const std::string said((std::istreambuf_iterator<char>(in)), {});
      CHECK_MESSAGE(said == (verified ? "same\n" : "closed empty\n"), said);
      CHECK(proxy->Terminate() == 0);
    }
    CHECK(echo->Terminate() == 0);
  }

  TEST_CASE("a tls:// listen whose key does not match its certificate stops the proxy") {
    const testutil::TestCerts& certs = testutil::Certificates();
    auto proxy = ChildProcess::Start(
        Runfile("examples/proxy/proxy"),
        {"--listen=tls://127.0.0.1:0", "--tls_cert=" + certs.cert,
         "--tls_key=" + certs.other_key, "--backend=tcp://127.0.0.1:1"},
        seconds(20));
    CHECK(proxy == nullptr);
  }
}

}  // namespace
}  // namespace actnet::transport
