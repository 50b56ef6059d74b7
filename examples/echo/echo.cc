// Echo server: every byte a client sends comes back, byte-exact.
//
//   bazel-bin/examples/echo/echo --loops=4 --lb=least_conn
//       --addr=tcp://127.0.0.1:9000,unix:///tmp/echo.sock [--stats_every_s=1]
//   bazel-bin/examples/echo/echo --addr=tls://127.0.0.1:9443
//       --tls_cert=cert.pem --tls_key=key.pem
// (each command is one line, wrapped here)
//
// Prints one line containing "listening" once every address accepts, and
// exits 0 shortly after SIGINT or SIGTERM.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "actnet.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:9000",
          "comma-separated addresses: tcp://, tcp4://, tcp6://, tls://, unix://");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for tls:// addresses");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for tls:// addresses");
ABSL_FLAG(int, tls_handshake_timeout_ms, 10000,
          "close connections whose TLS handshake takes longer");
ABSL_FLAG(int, loops, 0, "event loops (0 = one per CPU the process may use)");
ABSL_FLAG(std::string, lb, "round_robin",
          "load balancer: round_robin | least_conn | source_hash");
ABSL_FLAG(bool, pin, false, "pin loop i to CPU i");
ABSL_FLAG(actnet::IoBackend, backend, actnet::IoBackend::kEpoll,
          "kernel interface: epoll, io_uring or auto (EngineOptions::backend)");
ABSL_FLAG(uint32_t, uring_buffer_size, actnet::EngineOptions().uring_buffer_size,
          "io_uring: bytes of each provided receive buffer "
          "(EngineOptions::uring_buffer_size)");
ABSL_FLAG(uint32_t, uring_buffer_count, actnet::EngineOptions().uring_buffer_count,
          "io_uring: provided receive buffers per loop thread, a power of two "
          "(EngineOptions::uring_buffer_count)");
ABSL_FLAG(size_t, uring_send_zc_min, actnet::EngineOptions().uring_send_zc_min,
          "io_uring: staged sends of at least this many bytes are zero-copy "
          "(0 = off; EngineOptions::uring_send_zc_min)");
ABSL_FLAG(int, busy_poll_us, 0,
          "poll this many microseconds before an idle loop blocks (0 = block at once)");
ABSL_FLAG(int, coalesce_us, -1,
          "wake-up coalescing window in microseconds (0 = off, -1 = the engine's default)");
ABSL_FLAG(int, stats_every_s, 0,
          "print every loop's counters (Engine::Stats) to stderr this often, "
          "and once at shutdown (0 = never)");
ABSL_FLAG(int, coalesce_min_busy, -1,
          "coalesce only while the loop is busy this percent of the time "
          "(-1 = the engine's default)");

namespace {

class Echo final : public actnet::Handler {
 public:
  actnet::Action OnData(actnet::Conn& conn) override {
    conn.Write(conn.Next());
    return actnet::Action::kNone;
  }
};

// One line per loop: what Engine::Stats() reports.
void PrintStats(const actnet::Engine& engine) {
  for (const actnet::LoopStats& s : engine.Stats()) {
    std::fprintf(stderr,
                 "echo: loop %u: connections %lld, iterations %llu, polls %llu "
                 "(blocking %llu), windows %llu, yields %llu, messages %llu, "
                 "wake-ups %llu\n",
                 s.loop, static_cast<long long>(s.connections),
                 static_cast<unsigned long long>(s.iterations),
                 static_cast<unsigned long long>(s.polls),
                 static_cast<unsigned long long>(s.blocks),
                 static_cast<unsigned long long>(s.windows),
                 static_cast<unsigned long long>(s.yields),
                 static_cast<unsigned long long>(s.messages),
                 static_cast<unsigned long long>(s.wakeups));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<actnet::balance::Strategy> lb =
      actnet::balance::ParseStrategy(absl::GetFlag(FLAGS_lb));
  if (!lb.ok()) {
    std::fprintf(stderr, "echo: %s\n", lb.status().ToString().c_str());
    return 2;
  }
  actnet::EngineOptions options;
  options.loops = absl::GetFlag(FLAGS_loops);
  options.balancer = *lb;
  options.pin_cpus = absl::GetFlag(FLAGS_pin);
  options.backend = absl::GetFlag(FLAGS_backend);
  options.uring_buffer_size = absl::GetFlag(FLAGS_uring_buffer_size);
  options.uring_buffer_count = absl::GetFlag(FLAGS_uring_buffer_count);
  options.uring_send_zc_min = absl::GetFlag(FLAGS_uring_send_zc_min);
  options.busy_poll = absl::Microseconds(absl::GetFlag(FLAGS_busy_poll_us));
  if (absl::GetFlag(FLAGS_coalesce_us) >= 0) {
    options.coalesce = absl::Microseconds(absl::GetFlag(FLAGS_coalesce_us));
  }
  if (absl::GetFlag(FLAGS_coalesce_min_busy) >= 0) {
    options.coalesce_min_busy_percent = absl::GetFlag(FLAGS_coalesce_min_busy);
  }
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.handshake_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_tls_handshake_timeout_ms));
  actnet::Engine engine(options);
  for (absl::string_view url :
       absl::StrSplit(absl::GetFlag(FLAGS_addr), ',', absl::SkipEmpty())) {
    absl::Status s = engine.Listen<Echo>(url);
    if (!s.ok()) {
      std::fprintf(stderr, "echo: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  if (const int every = absl::GetFlag(FLAGS_stats_every_s); every > 0) {
    engine.SetOnTick(
        [every](actnet::Engine& e) {
          PrintStats(e);
          return absl::Seconds(every);
        },
        absl::Seconds(every));
    engine.SetOnShutdown([](actnet::Engine& e) { PrintStats(e); });
  }
  actnet::StopOnSignals(engine);  // SIGINT/SIGTERM: graceful stop
  actnet::AnnounceListening(engine, "echo");
  absl::Status s = engine.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "echo: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
