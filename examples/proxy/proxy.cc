// L4 proxy: every connection accepted on --listen is relayed, byte-exact
// and both ways, to a connection the proxy dials to --backend.
//
//   bazel-bin/examples/proxy/proxy --listen=tcp://127.0.0.1:8000
//       --backend=unix:///tmp/echo.sock --loops=4
//   bazel-bin/examples/proxy/proxy --listen=tls://127.0.0.1:8443
//       --tls_cert=cert.pem --tls_key=key.pem --backend=tls://localhost:9443
//       --tls_ca=ca.pem
// (each command is one line, wrapped here)
// TLS is terminated on --listen and originated to a tls:// --backend,
// whose certificate and name are verified; a backend that fails
// verification closes the client's connection and relays nothing.
//
// The two connections of a pair are actors, by default on different loops,
// that touch each other only through messages: Chunk (bytes to write), Ack
// (that many bytes reached the kernel), Ready/Attached (the backend opened),
// Eof (the peer's far end sent FIN: relay it with ShutdownWrite once what
// it sent is written) and Gone (the peer closed: flush, then close). A
// half-close is relayed, so a client that shuts down its side after its
// request still gets the backend's whole reply, and the pair closes once
// both directions have ended. Back-pressure both ways: a
// side stops reading once kWindow forwarded bytes are unacknowledged, and
// the other side acknowledges only once the bytes are written (at once if
// its queue is short, else from OnDrain), so a slow reader at either end
// stalls the other end instead of growing memory.
//
// Prints a line containing "listening" once it accepts; exits 0 on SIGINT
// or SIGTERM.
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "actnet.h"

ABSL_FLAG(std::string, listen, "tcp://127.0.0.1:8000",
          "address to serve (tcp://, tls://, unix://)");
ABSL_FLAG(std::string, backend, "tcp://127.0.0.1:9000",
          "address to relay to (tcp://, tls://, unix://)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for a tls:// --listen");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for a tls:// --listen");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CAs to verify a tls:// --backend with (default: the system's)");
ABSL_FLAG(int, tls_handshake_timeout_ms, 10000,
          "close connections whose TLS handshake takes longer");
ABSL_FLAG(int, loops, 0, "event loops (0 = one per CPU the process may use)");
// --backend is the relay address, so the kernel interface is --io_backend.
ABSL_FLAG(actnet::IoBackend, io_backend, actnet::IoBackend::kEpoll,
          "kernel interface: epoll, io_uring or auto (EngineOptions::backend)");
ABSL_FLAG(bool, same_loop, false, "dial each backend on its client's loop, not the next");

namespace {

using actnet::Action;
using actnet::ActorRef;
using actnet::Conn;

constexpr size_t kWindow = 256 * 1024;   // unacknowledged bytes before pausing
constexpr size_t kShortQueue = 64 * 1024;  // acknowledge at once below this
const absl::Duration kAttachTimeout = absl::Seconds(10);

struct Chunk { std::string bytes; };
struct Ack { size_t bytes; };
struct Ready { ActorRef backend; };  // backend -> front, once open
struct Attached {};                  // front -> backend, in reply
struct Eof {};                       // the peer's far end sent FIN
struct Gone {};                      // the peer closed

std::string g_backend;
bool g_same_loop = false;
actnet::TlsOptions g_backend_tls;  // a tls:// backend: verified with --tls_ca

// One side of a pair. A front side (accepted) starts paused with no peer
// and dials its backend; a back side (dialled) knows its front from birth.
class Side final : public actnet::Handler {
 public:
  explicit Side(ActorRef front = {}) : peer_(front), is_back_(front.valid()) {}

  Action OnOpen(Conn& c) override {
    actnet::Engine& engine = c.loop().engine();
    if (is_back_) {
      Tell<Ready>(c, c.ref());
      c.SetTick(kAttachTimeout);  // the front may die before Ready arrives
      return Action::kNone;
    }
    c.PauseReading();  // until the backend is open
    actnet::DialOptions options;
    options.tls = g_backend_tls;
    if (!g_same_loop) options.loop = int(c.loop().index() + 1) % engine.num_loops();
    const ActorRef self = c.ref();
    absl::Status s = engine.Dial(
        g_backend, std::make_unique<Side>(self),
        [&engine, self](absl::StatusOr<ActorRef> r) {
          if (r.ok()) return;
          std::fprintf(stderr, "proxy: %s\n", r.status().ToString().c_str());
          (void)engine.Tell<Gone>(self);
        },
        options);
    return s.ok() ? Action::kNone : Action::kClose;
  }

  Action OnData(Conn& c) override {
    absl::string_view in = c.Next();
    unacked_ += in.size();
    Tell<Chunk>(c, std::string(in));
    if (unacked_ > kWindow && !window_paused_) {
      window_paused_ = true;
      c.PauseReading();
    }
    return Action::kNone;
  }

  Action OnMessage(Conn& c, actnet::Envelope& m) override {
    if (auto* chunk = m.As<Chunk>()) {
      c.Write(chunk->bytes);
      c.Flush();  // so OutboundBytes() tells what the kernel did not take
      owed_ += chunk->bytes.size();
      if (c.OutboundBytes() <= kShortQueue) PayAck(c);
    } else if (auto* ack = m.As<Ack>()) {
      unacked_ -= ack->bytes;
      if (window_paused_ && unacked_ <= kWindow) {
        window_paused_ = false;
        c.ResumeReading();
      }
    } else if (auto* ready = m.As<Ready>()) {
      peer_ = ready->backend;
      Tell<Attached>(c);
      c.ResumeReading();
    } else if (m.Is<Attached>()) {
      c.SetTick(absl::ZeroDuration());
    } else if (m.Is<Eof>()) {
      c.ShutdownWrite();  // closes instead if this side's FIN came already
    } else if (m.Is<Gone>()) {
      peer_ = ActorRef();  // nobody left to tell
      c.Close();           // after flushing what it sent
    }
    return Action::kNone;
  }

  // This side's far end is done sending: relay the FIN and keep carrying
  // the other direction until it ends too.
  Action OnPeerClosed(Conn& c) override {
    if (!peer_.valid() || c.write_shut_down()) return Action::kClose;
    Tell<Eof>(c);
    return Action::kNone;
  }

  Action OnDrain(Conn& c) override {
    PayAck(c);
    return Action::kNone;
  }

  Action OnTick(Conn& c) override { return Action::kClose; }  // never attached

  void OnClose(Conn& c, const actnet::CloseReason&) override {
    if (peer_.valid()) Tell<Gone>(c);
  }

 private:
  template <class T, class... Args>
  void Tell(Conn& c, Args&&... args) {
    if (peer_.valid()) (void)c.loop().engine().Tell<T>(peer_, T{std::forward<Args>(args)...});
  }
  void PayAck(Conn& c) {
    if (owed_ == 0) return;
    Tell<Ack>(c, owed_);
    owed_ = 0;
  }

  ActorRef peer_;
  bool is_back_;
  bool window_paused_ = false;
  size_t unacked_ = 0;  // bytes sent to the peer, not yet acknowledged
  size_t owed_ = 0;     // bytes received from the peer, not yet acknowledged
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  g_backend = absl::GetFlag(FLAGS_backend);
  g_same_loop = absl::GetFlag(FLAGS_same_loop);
  actnet::EngineOptions options;
  options.loops = absl::GetFlag(FLAGS_loops);
  options.backend = absl::GetFlag(FLAGS_io_backend);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.handshake_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_tls_handshake_timeout_ms));
  g_backend_tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  g_backend_tls.handshake_timeout = options.tls.handshake_timeout;
  actnet::Engine engine(options);
  absl::Status s = engine.Listen(absl::GetFlag(FLAGS_listen),
                                 [] { return std::make_unique<Side>(); });
  const bool tls_backend = absl::StartsWith(g_backend, "tls://");
  if (s.ok()) {
    s = actnet::io::ParseAddress(tls_backend ? "tcp://" + g_backend.substr(6)
                                             : g_backend)
            .status();
  }
  if (s.ok() && tls_backend) s = actnet::Engine::CheckTls(g_backend_tls, false);
  if (!s.ok()) {
    std::fprintf(stderr, "proxy: %s\n", s.ToString().c_str());
    return 2;
  }
  actnet::StopOnSignals(engine);  // SIGINT/SIGTERM: graceful stop
  engine.SetOnBoot([](actnet::Engine& e) {
    std::printf("proxy: relaying to %s with %d loops, listening on %s\n",
                g_backend.c_str(), e.num_loops(), e.ListenAddresses()[0].c_str());
    std::fflush(stdout);
  });
  s = engine.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "proxy: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
