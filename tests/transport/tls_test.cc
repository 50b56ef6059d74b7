// TLS (tls://) end to end, with certificates made by the openssl CLI for
// each run: Listen errors naming the bad file, byte-exact echo of random
// payloads between actnet's own client and server (verified against the
// test CA), Python's ssl module and openssl s_client as clients nobody here
// wrote (TLS 1.2 and 1.3, close_notify, resumption on another loop, TLS 1.1
// refused), dials that fail verification, garbage instead of a ClientHello
// and a handshake that never comes.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/testing/tls_certs.h"
#include "tests/transport/transport_testing.h"

namespace actnet::transport {
namespace {

using testutil::Certificates;

TlsOptions ServerTls() {
  TlsOptions o;
  o.cert_file = Certificates().cert;
  o.key_file = Certificates().key;
  return o;
}

TlsOptions ClientTls() {
  TlsOptions o;
  o.ca_file = Certificates().ca;
  return o;
}

// Counts opens and closes; echoes every byte; "bye\n" answers "bye\n" and
// closes (close_notify, then FIN).
struct Counts {
  std::atomic<int> opens{0};
  std::atomic<int> closes{0};
};

class TlsEcho : public Handler {
 public:
  explicit TlsEcho(Counts* counts) : counts_(counts) {}
  Action OnOpen(Conn&) override {
    counts_->opens.fetch_add(1);
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    const absl::string_view in = conn.Peek();
    if (in == "bye\n") {
      conn.Write("bye\n");
      conn.Discard(in.size());
      return Action::kClose;
    }
    conn.Write(conn.Next());
    return Action::kNone;
  }
  void OnClose(Conn&, const CloseReason&) override { counts_->closes.fetch_add(1); }

 private:
  Counts* counts_;
};

struct Server {
  std::unique_ptr<Engine> engine;
  Counts counts;
  int port = 0;
};

std::unique_ptr<Server> StartTlsServer(TlsOptions tls, int loops = 2) {
  auto s = std::make_unique<Server>();
  EngineOptions o;
  o.loops = loops;
  o.tls = std::move(tls);
  s->engine = std::make_unique<Engine>(o);
  Counts* counts = &s->counts;
  REQUIRE(s->engine
              ->Listen("tls://127.0.0.1:0",
                       HandlerFactory([counts] { return std::make_unique<TlsEcho>(counts); }))
              .ok());
  REQUIRE(s->engine->Start().ok());
  const std::string url = s->engine->ListenAddresses().at(0);
  REQUIRE(absl::StartsWith(url, "tls://127.0.0.1:"));
  s->port = std::stoi(url.substr(url.rfind(':') + 1));
  return s;
}

// Runs `command` with a time bound; its exit code, output in *out.
int Run(const std::string& command, std::string* out) {
  TempDir dir;
  const std::string log = dir.File("out.log");
  const int rc = std::system(
      ("timeout 30 sh -c '" + command + "' > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A client connection of the test's own engine: writes `payload` in
// random-sized pieces once open, collects what comes back.
struct Received {
  std::mutex mu;
  std::condition_variable cv;
  std::string bytes;
  bool closed = false;

  void Append(absl::string_view in) {
    std::lock_guard<std::mutex> lock(mu);
    bytes.append(in.data(), in.size());
    cv.notify_all();
  }
  // Waits (bounded) for `n` bytes; true if they came and equal `expect`.
  bool Got(const std::string& expect) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, Slack(std::chrono::seconds(30)),
                [&] { return bytes.size() >= expect.size(); });
    return bytes == expect;
  }
};

class Sender : public Handler {
 public:
  Sender(std::string payload, uint64_t seed, Received* got)
      : payload_(std::move(payload)), rng_(seed), got_(got) {}
  Action OnOpen(Conn& conn) override {
    size_t at = 0;
    while (at < payload_.size()) {
      const size_t n = std::min<size_t>(payload_.size() - at, 1 + rng_() % 20000);
      conn.Write(absl::string_view(payload_).substr(at, n));
      at += n;
    }
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    got_->Append(conn.Next());
    return Action::kNone;
  }
  void OnClose(Conn&, const CloseReason&) override {
    std::lock_guard<std::mutex> lock(got_->mu);
    got_->closed = true;
    got_->cv.notify_all();
  }

 private:
  std::string payload_;
  std::mt19937_64 rng_;
  Received* got_;
};

// Echoes, and records the most output it ever had queued.
class WatchedEcho : public Handler {
 public:
  explicit WatchedEcho(std::atomic<size_t>* max_queued) : max_queued_(max_queued) {}
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    conn.Flush();
    size_t seen = max_queued_->load();
    while (conn.OutboundBytes() > seen &&
           !max_queued_->compare_exchange_weak(seen, conn.OutboundBytes())) {
    }
    return Action::kNone;
  }

 private:
  std::atomic<size_t>* max_queued_;
};

// Never reads; keeps writing 256 KiB pieces whenever its queue has drained,
// up to 64 MiB.
class Flood : public Handler {
 public:
  explicit Flood(std::atomic<size_t>* written) : written_(written) {}
  Action OnOpen(Conn& conn) override {
    conn.PauseReading();
    return More(conn);
  }
  Action OnDrain(Conn& conn) override { return More(conn); }
  Action OnData(Conn&) override { return Action::kNone; }  // paused: keeps it

 private:
  // Writes until some of it has to wait (OnDrain then says when it left).
  Action More(Conn& conn) {
    while (written_->load() < (64u << 20) && conn.OutboundBytes() == 0) {
      conn.Write(std::string(256 << 10, 'f'));
      conn.Flush();
      written_->fetch_add(256 << 10);
    }
    return Action::kNone;
  }
  std::atomic<size_t>* written_;
};

// Says what its connection negotiated, then closes.
class Report : public Handler {
 public:
  Action OnOpen(Conn& conn) override {
    conn.Write(absl::StrCat("tls=", conn.is_tls(), " alpn=", conn.alpn(),
                            " resumed=", conn.tls_resumed(), "\n"));
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    conn.Discard(conn.Peek().size());
    return Action::kNone;
  }
};

// Records its own view of the handshake, and what the server said.
class Listener : public Handler {
 public:
  explicit Listener(Received* got) : got_(got) {}
  Action OnOpen(Conn& conn) override {
    std::lock_guard<std::mutex> lock(got_->mu);
    got_->bytes = absl::StrCat("client alpn=", conn.alpn(),
                               " resumed=", conn.tls_resumed(), "; ");
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    got_->Append(conn.Next());
    return Action::kNone;
  }

 private:
  Received* got_;
};

// Echoes; keeps its connection's ref for the test thread and records how
// each connection closed.
struct Seen {
  std::mutex mu;
  std::vector<ActorRef> refs;
  std::vector<CloseReason::Kind> closes;
  size_t opened() {
    std::lock_guard<std::mutex> lock(mu);
    return refs.size();
  }
  bool Closed(CloseReason::Kind kind) {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(closes.begin(), closes.end(), kind) != closes.end();
  }
};

class Kept : public Handler {
 public:
  explicit Kept(Seen* seen) : seen_(seen) {}
  Action OnOpen(Conn& conn) override {
    std::lock_guard<std::mutex> lock(seen_->mu);
    seen_->refs.push_back(conn.ref());
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
  void OnClose(Conn&, const CloseReason& reason) override {
    std::lock_guard<std::mutex> lock(seen_->mu);
    seen_->closes.push_back(reason.kind);
  }

 private:
  Seen* seen_;
};

class Silent : public Handler {
 public:
  Action OnData(Conn& conn) override {
    conn.Discard(conn.Peek().size());
    return Action::kNone;
  }
};

// Enroll and wait for `done`: the ref, or why it did not open.
absl::StatusOr<ActorRef> EnrollAndWait(Engine& engine, int fd, std::unique_ptr<Handler> handler,
                                       EnrollOptions options) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<ActorRef>> result;
  absl::Status s = engine.Enroll(
      io::UniqueFd(fd), std::move(handler),
      [&](absl::StatusOr<ActorRef> r) {
        std::lock_guard<std::mutex> lock(mu);
        result = std::move(r);
        cv.notify_all();
      },
      std::move(options));
  if (!s.ok()) return s;
  std::unique_lock<std::mutex> lock(mu);
  if (!cv.wait_for(lock, Slack(seconds(30)), [&] { return result.has_value(); })) {
    return absl::DeadlineExceededError("enroll: no callback");
  }
  return *result;
}

// Enrolment as a TLS client verified with the test CA (and `name`, if
// given, else the peer's address).
EnrollOptions ClientEnroll(const std::string& name = "") {
  EnrollOptions o;
  o.tls_role = EnrollOptions::Tls::kClient;
  o.tls = ClientTls();
  o.tls.server_name = name;
  return o;
}

// A blocking TCP connect to 127.0.0.1:port (the fd, or -1).
int ConnectTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

TEST_SUITE("tls") {
  TEST_CASE("a tls:// Listen with a missing, non-PEM or mismatched file fails, naming it") {
    const testutil::TestCerts& pki = Certificates();
    struct Bad {
      std::string cert, key, expect;
    };
    const std::vector<Bad> cases = {
        {pki.dir + "/missing.pem", pki.key, "missing.pem"},
        {pki.not_pem, pki.key, "not.pem"},
        {pki.cert, pki.not_pem, "not.pem"},
        {pki.cert, pki.other_key, "does not match"},
        {"", "", "needs a certificate and a key"},
    };
    for (const Bad& bad : cases) {
      CAPTURE(bad.expect);
      Engine engine(EngineOptions{.loops = 1});
      TlsOptions tls;
      tls.cert_file = bad.cert;
      tls.key_file = bad.key;
      const absl::Status s = engine.Listen(
          "tls://127.0.0.1:0", HandlerFactory([] { return std::make_unique<Silent>(); }), tls);
      CHECK(s.code() == absl::StatusCode::kInvalidArgument);
      CHECK_MESSAGE(absl::StrContains(s.message(), bad.expect), s.message());
    }
  }

  TEST_CASE("actnet's client and server: random payloads in random-sized writes come back byte-exact") {
    auto server = StartTlsServer(ServerTls());
    Engine client(EngineOptions{.loops = 2});
    REQUIRE(client.Start().ok());
    const int kConns = 4;
    const size_t size = static_cast<size_t>(Scaled(1 << 20, 1 << 17));
    std::vector<std::unique_ptr<Received>> got;
    std::vector<std::string> payloads;
    std::mt19937_64 rng(7);
    for (int i = 0; i < kConns; ++i) {
      payloads.push_back(RandomBytes(rng, size));
      got.push_back(std::make_unique<Received>());
      DialOptions d;
      d.tls = ClientTls();
      absl::StatusOr<ActorRef> ref = client.DialAndWait(
          absl::StrCat("tls://127.0.0.1:", server->port),
          std::make_unique<Sender>(payloads.back(), 100 + i, got.back().get()), d);
      REQUIRE_MESSAGE(ref.ok(), ref.status().ToString());
    }
    for (int i = 0; i < kConns; ++i) {
      std::unique_lock<std::mutex> lock(got[i]->mu);
      CHECK(got[i]->cv.wait_for(lock, Slack(seconds(30)),
                                [&] { return got[i]->bytes.size() >= size; }));
      CHECK(got[i]->bytes == payloads[i]);
    }
    CHECK(server->counts.opens.load() == kConns);
    client.Stop();
    client.Wait();
    CHECK(WaitFor([&] { return server->counts.closes.load() == kConns; }, Slack(seconds(10))));
    server->engine->Stop();
    server->engine->Wait();
  }

  TEST_CASE("Python's ssl: TLS 1.2 and 1.3, close_notify is a clean EOF, a session resumes on the other loop") {
    auto server = StartTlsServer(ServerTls());
    TempDir dir;
    std::ofstream(dir.File("client.py")) << R"(
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
def connect(ctx, session=None):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                        server_hostname="localhost", session=session)
    return s
for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = version
    s = connect(ctx)
    s.sendall(b"hello over tls\n")
    got = b""
    while len(got) < 15:
        got += s.recv(100)
    assert got == b"hello over tls\n", got
    session = s.session
    s.sendall(b"bye\n")
    tail = s.recv(100)
    assert tail == b"bye\n", tail
    assert s.recv(100) == b"", "expected close_notify"   # raises SSLEOFError without it
    print("ok", s.version())
    s.close()
    s2 = connect(ctx, session)
    s2.sendall(b"again\n")
    assert s2.recv(100) == b"again\n"
    print("resumed", s2.version(), s2.session_reused)
    s2.close()
)";
    std::string out;
    const int rc = Run(absl::StrCat("python3 ", dir.File("client.py"), " ", server->port, " ",
                                    Certificates().ca),
                       &out);
    CHECK_MESSAGE(rc == 0, out);
    CHECK_MESSAGE(absl::StrContains(out, "ok TLSv1.2"), out);
    CHECK_MESSAGE(absl::StrContains(out, "ok TLSv1.3"), out);
    CHECK_MESSAGE(absl::StrContains(out, "resumed TLSv1.2 True"), out);
    CHECK_MESSAGE(absl::StrContains(out, "resumed TLSv1.3 True"), out);
    server->engine->Stop();
    server->engine->Wait();
  }

  TEST_CASE("openssl s_client verifies the server with TLS 1.2 and 1.3; TLS 1.1 and renegotiation are refused") {
    auto server = StartTlsServer(ServerTls());
    const std::string base = absl::StrCat(
        "echo | openssl s_client -connect 127.0.0.1:", server->port,
        " -CAfile ", Certificates().ca, " -verify_return_error -verify_ip 127.0.0.1 -brief ");
    std::string out;
    CHECK_MESSAGE(Run(base + "-tls1_2", &out) == 0, out);
    CHECK_MESSAGE(absl::StrContains(out, "TLSv1.2"), out);
    CHECK_MESSAGE(Run(base + "-tls1_3", &out) == 0, out);
    CHECK_MESSAGE(absl::StrContains(out, "TLSv1.3"), out);
    CHECK_MESSAGE(Run(base + "-tls1_1 -cipher DEFAULT@SECLEVEL=0", &out) != 0, out);
    // s_client's "R" line asks for a TLS 1.2 renegotiation: refused.
    CHECK(Run(absl::StrCat("(echo hello; sleep 0.5; echo R; sleep 1) | openssl s_client "
                           "-connect 127.0.0.1:", server->port, " -CAfile ", Certificates().ca,
                           " -tls1_2"),
              &out) >= 0);
    CHECK_MESSAGE(absl::StrContains(out, "RENEGOTIATING"), out);
    CHECK_MESSAGE(absl::StrContains(out, "no renegotiation"), out);
    CHECK(server->counts.opens.load() == 3);
    server->engine->Stop();
    server->engine->Wait();
  }

  TEST_CASE("a dial whose server fails verification reports why and opens nothing") {
    auto server = StartTlsServer(ServerTls());
    Engine client(EngineOptions{.loops = 1});
    REQUIRE(client.Start().ok());
    const std::string url = absl::StrCat("tls://127.0.0.1:", server->port);
    int good_opens = 0;
    Received first;  // the good dial's: its connection lives until client.Stop
    SUBCASE("another CA") {
      DialOptions d;
      d.tls.ca_file = Certificates().other_ca;
      Received got;
      absl::StatusOr<ActorRef> ref =
          client.DialAndWait(url, std::make_unique<Sender>("never sent", 1, &got), d);
      REQUIRE_FALSE(ref.ok());
      CHECK(ref.status().code() == absl::StatusCode::kUnauthenticated);
      CHECK_MESSAGE(absl::StrContains(ref.status().message(), "certificate verify failed"),
                    ref.status().message());
    }
    SUBCASE("another name, after a dial that verified with the same CA") {
      // Dials differing only in server_name must not share the first's.
      DialOptions good;
      good.tls = ClientTls();
      REQUIRE(client.DialAndWait(url, std::make_unique<Sender>("", 1, &first), good).ok());
      good_opens = 1;
      DialOptions d = good;
      d.tls.server_name = "not-this-host.example";
      Received got;
      absl::StatusOr<ActorRef> ref =
          client.DialAndWait(url, std::make_unique<Sender>("never sent", 1, &got), d);
      REQUIRE_FALSE(ref.ok());
      CHECK(ref.status().code() == absl::StatusCode::kUnauthenticated);
    }
    SUBCASE("another name") {
      DialOptions d;
      d.tls = ClientTls();
      d.tls.server_name = "not-this-host.example";
      Received got;
      absl::StatusOr<ActorRef> ref =
          client.DialAndWait(url, std::make_unique<Sender>("never sent", 1, &got), d);
      REQUIRE_FALSE(ref.ok());
      CHECK(ref.status().code() == absl::StatusCode::kUnauthenticated);
      CHECK_MESSAGE(absl::StrContains(ref.status().message(), url), ref.status().message());
    }
    CHECK(WaitFor([&] { return server->counts.opens.load() == good_opens; }, Slack(seconds(5))));
    client.Stop();
    client.Wait();
    server->engine->Stop();
    server->engine->Wait();
  }

  TEST_CASE("actnet's client resumes its session on the next dial (the other server loop); ALPN picks the server's first common protocol") {
    EngineOptions so;
    so.loops = 2;
    so.tls = ServerTls();
    so.tls.alpn = {"h2", "http/1.1"};
    Engine server(so);
    REQUIRE(server.Listen("tls://127.0.0.1:0", HandlerFactory([] {
                            return std::make_unique<Report>();
                          })).ok());
    REQUIRE(server.Start().ok());
    const std::string url = server.ListenAddresses().at(0);
    Engine client(EngineOptions{.loops = 1});
    REQUIRE(client.Start().ok());
    DialOptions d;
    d.tls = ClientTls();
    d.tls.alpn = {"http/1.1", "h2"};
    std::vector<std::string> seen;
    for (int i = 0; i < 2; ++i) {
      Received got;
      REQUIRE(client.DialAndWait(url, std::make_unique<Listener>(&got), d).ok());
      std::unique_lock<std::mutex> lock(got.mu);
      CHECK(got.cv.wait_for(lock, Slack(seconds(10)),
                            [&] { return absl::StrContains(got.bytes, "\n"); }));
      seen.push_back(got.bytes);
    }
    CHECK(seen[0] == "client alpn=h2 resumed=0; tls=1 alpn=h2 resumed=0\n");
    CHECK(seen[1] == "client alpn=h2 resumed=1; tls=1 alpn=h2 resumed=1\n");
    client.Stop();
    client.Wait();
    server.Stop();
    server.Wait();
  }

  TEST_CASE("over TLS: AsyncWrite from another thread, the idle timeout, and a graceful stop that flushes then sends close_notify") {
    Seen seen;
    EngineOptions so;
    so.loops = 2;
    so.tls = ServerTls();
    so.idle_timeout = absl::Milliseconds(kSanitized ? 3000 : 500);
    Engine server(so);
    REQUIRE(server.Listen("tls://127.0.0.1:0", HandlerFactory([&seen] {
                            return std::make_unique<Kept>(&seen);
                          })).ok());
    REQUIRE(server.Start().ok());
    const std::string url = server.ListenAddresses().at(0);
    Engine client(EngineOptions{.loops = 1});
    REQUIRE(client.Start().ok());
    DialOptions d;
    d.tls = ClientTls();

    // A: a write from this thread arrives; then A idles until the server
    // closes it (close_notify: the client sees a clean close).
    Received a;
    REQUIRE(client.DialAndWait(url, std::make_unique<Sender>("", 1, &a), d).ok());
    REQUIRE(WaitFor([&] { return seen.opened() == 1; }, Slack(seconds(10))));
    std::mutex mu;
    std::condition_variable cv;
    std::optional<absl::Status> written;
    REQUIRE(server
                .AsyncWrite(seen.refs[0], "pushed from another thread\n",
                            [&](absl::Status st) {
                              std::lock_guard<std::mutex> lock(mu);
                              written = st;
                              cv.notify_all();
                            })
                .ok());
    {
      std::unique_lock<std::mutex> lock(a.mu);
      CHECK(a.cv.wait_for(lock, Slack(seconds(10)), [&] {
        return a.bytes == "pushed from another thread\n";
      }));
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      REQUIRE(cv.wait_for(lock, Slack(seconds(10)), [&] { return written.has_value(); }));
      CHECK(written->ok());
    }
    CHECK(WaitFor([&] { return seen.Closed(CloseReason::Kind::kIdle); }, Slack(seconds(10))));
    {
      std::unique_lock<std::mutex> lock(a.mu);
      CHECK(a.cv.wait_for(lock, Slack(seconds(10)), [&] { return a.closed; }));
    }

    // B: 1 MiB queued from this thread, then Stop: every byte arrives
    // before the close.
    Received b;
    REQUIRE(client.DialAndWait(url, std::make_unique<Sender>("", 2, &b), d).ok());
    REQUIRE(WaitFor([&] { return seen.opened() == 2; }, Slack(seconds(10))));
    std::mt19937_64 rng(3);
    const std::string big = RandomBytes(rng, 1 << 20);
    REQUIRE(server.AsyncWrite(seen.refs[1], big).ok());
    server.Stop();
    server.Wait();
    CHECK(seen.Closed(CloseReason::Kind::kEngineStopped));
    {
      std::unique_lock<std::mutex> lock(b.mu);
      CHECK(b.cv.wait_for(lock, Slack(seconds(10)), [&] { return b.closed; }));
      CHECK(b.bytes.size() == big.size());
      CHECK(b.bytes == big);
    }
    client.Stop();
    client.Wait();
  }

  TEST_CASE("a peer that never reads: TLS output counts toward the high-water mark, and both ends stall") {
    std::atomic<size_t> max_queued{0};
    EngineOptions so;
    so.loops = 1;
    so.tls = ServerTls();
    Engine server(so);
    REQUIRE(server
                .Listen("tls://127.0.0.1:0", HandlerFactory([&max_queued] {
                          return std::make_unique<WatchedEcho>(&max_queued);
                        }))
                .ok());
    REQUIRE(server.Start().ok());
    const std::string url = server.ListenAddresses().at(0);
    Engine client(EngineOptions{.loops = 1});
    REQUIRE(client.Start().ok());
    std::atomic<size_t> written{0};
    DialOptions d;
    d.tls = ClientTls();
    REQUIRE(client.DialAndWait(url, std::make_unique<Flood>(&written), d).ok());
    // The server's queue fills toward its high-water mark (however slowly
    // a loaded machine gets there), then the writer is held back: written
    // stops growing once every buffer on the way is full.
    CHECK(WaitFor([&] { return max_queued.load() > so.write_high_water / 2; },
                  Slack(seconds(20))));
    size_t last = 0;
    for (int stable = 0, i = 0; stable < 5 && i < 200; ++i) {
      std::this_thread::sleep_for(milliseconds(100));
      const size_t now = written.load();
      stable = now == last ? stable + 1 : 0;
      last = now;
    }
    CHECK(written.load() < (64u << 20));  // the writer was held back
    CAPTURE(written.load());
    // The server stopped reading at its high-water mark: its queue
    // (plaintext and ciphertext) never passed it by more than one read.
    CHECK(max_queued.load() <= so.write_high_water + (256u << 10));
    client.Stop();
    client.Wait();
    server.Stop();
    server.Wait();
  }

  TEST_CASE("Enroll runs TLS over an adopted socket, as server or as client, and reports a failed verification") {
    Engine engine(EngineOptions{.loops = 2});
    REQUIRE(engine.Start().ok());
    std::mt19937_64 rng(11);
    SUBCASE("both ends of a socketpair: one enrolled as the server, one as the client") {
      int fds[2];
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
      Counts counts;
      EnrollOptions server;
      server.tls_role = EnrollOptions::Tls::kServer;
      server.tls = ServerTls();
      server.loop = 0;
      // A Unix socket has no address to verify: the name is given.
      EnrollOptions client = ClientEnroll("localhost");
      client.loop = 1;
      const std::string payload = RandomBytes(rng, 300000);
      Received got;
      // The server's handshake waits for the ClientHello: enroll it from
      // another thread while the client's enrolment runs here.
      std::optional<absl::StatusOr<ActorRef>> server_ref;
      std::thread t([&] {
        server_ref = EnrollAndWait(engine, fds[0], std::make_unique<TlsEcho>(&counts), server);
      });
      absl::StatusOr<ActorRef> client_ref =
          EnrollAndWait(engine, fds[1], std::make_unique<Sender>(payload, 5, &got), client);
      t.join();
      REQUIRE_MESSAGE(client_ref.ok(), client_ref.status().ToString());
      REQUIRE(server_ref.has_value());
      REQUIRE_MESSAGE(server_ref->ok(), server_ref->status().ToString());
      CHECK(got.Got(payload));
      CHECK(counts.opens.load() == 1);
      engine.Stop();  // closes both ends while `got` and `counts` live
      engine.Wait();
    }
    SUBCASE("a TCP socket connected elsewhere, verified by the peer's IP address") {
      auto server = StartTlsServer(ServerTls());
      const int fd = ConnectTcp(server->port);
      REQUIRE(fd >= 0);
      const EnrollOptions client = ClientEnroll();
      const std::string payload = RandomBytes(rng, 100000);
      Received got;
      absl::StatusOr<ActorRef> ref =
          EnrollAndWait(engine, fd, std::make_unique<Sender>(payload, 6, &got), client);
      REQUIRE_MESSAGE(ref.ok(), ref.status().ToString());
      CHECK(got.Got(payload));
      server->engine->Stop();
      server->engine->Wait();
      engine.Stop();
      engine.Wait();
    }
    SUBCASE("a peer whose certificate does not name it: done says enroll and why, nothing opens") {
      auto server = StartTlsServer(ServerTls());
      const int fd = ConnectTcp(server->port);
      REQUIRE(fd >= 0);
      const EnrollOptions client = ClientEnroll("not-this-host.example");
      Received got;
      absl::StatusOr<ActorRef> ref =
          EnrollAndWait(engine, fd, std::make_unique<Sender>("never sent", 7, &got), client);
      REQUIRE_FALSE(ref.ok());
      CHECK(ref.status().code() == absl::StatusCode::kUnauthenticated);
      CHECK_MESSAGE(absl::StrContains(ref.status().message(), "enroll 127.0.0.1:"),
                    ref.status().message());
      CHECK(server->counts.opens.load() == 0);
      server->engine->Stop();
      server->engine->Wait();
    }
    SUBCASE("TLS over a datagram socket, or with files that do not load, is refused at once") {
      int fds[2];
      REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) == 0);
      ::close(fds[1]);
      EnrollOptions o;
      o.tls_role = EnrollOptions::Tls::kServer;
      o.tls = ServerTls();
      absl::Status s = engine.Enroll(io::UniqueFd(fds[0]), std::make_unique<Silent>(),
                                     [](absl::StatusOr<ActorRef>) { FAIL("called"); }, o);
      CHECK(s.code() == absl::StatusCode::kInvalidArgument);
      CHECK_MESSAGE(absl::StrContains(s.message(), "datagram"), s.message());
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
      ::close(fds[1]);
      o.tls.key_file = Certificates().other_key;
      s = engine.Enroll(io::UniqueFd(fds[0]), std::make_unique<Silent>(),
                        [](absl::StatusOr<ActorRef>) { FAIL("called"); }, o);
      CHECK(s.code() == absl::StatusCode::kInvalidArgument);
      CHECK_MESSAGE(absl::StrContains(s.message(), "enroll: "), s.message());
    }
    engine.Stop();  // a no-op where a subcase stopped it
    engine.Wait();
  }

  TEST_CASE("garbage instead of a ClientHello, or no handshake at all, closes only that connection") {
    TlsOptions tls = ServerTls();
    tls.handshake_timeout = absl::Milliseconds(300);
    auto server = StartTlsServer(tls);
    Client garbage = Client::Connect(server->port, Clock::now() + seconds(10));
    Client idle = Client::Connect(server->port, Clock::now() + seconds(10));
    REQUIRE(garbage.valid());
    REQUIRE(idle.valid());
    REQUIRE(garbage.SendAll("GET / HTTP/1.1\r\nHost: x\r\n\r\n", Clock::now() + seconds(10)));
    std::string ignored;
    CHECK(garbage.RecvUntilClosed(&ignored, nullptr, Clock::now() + Slack(seconds(10))) !=
          testutil::End::kTimeout);
    CHECK(idle.RecvUntilClosed(&ignored, nullptr, Clock::now() + Slack(seconds(10))) !=
          testutil::End::kTimeout);
    // Meanwhile a real client is served.
    std::string out;
    CHECK_MESSAGE(Run(absl::StrCat("echo | openssl s_client -connect 127.0.0.1:", server->port,
                                   " -CAfile ", Certificates().ca, " -verify_return_error -brief"),
                      &out) == 0,
                  out);
    CHECK(server->counts.opens.load() == 1);
    CHECK(WaitFor([&] { return server->engine->CountConnections() == 0; }, Slack(seconds(10))));
    server->engine->Stop();
    server->engine->Wait();
  }
}

}  // namespace
}  // namespace actnet::transport
