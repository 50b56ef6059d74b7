// HTTP/1.1 server: GET / and /plaintext say "Hello, World!", POST /echo
// returns the request body, GET /<file> serves --static_dir. Over TLS too:
//
//   bazel-bin/examples/http/http --addr=tcp://127.0.0.1:8080 --loops=2
//   bazel-bin/examples/http/http --addr=tls://127.0.0.1:8443
//       --tls_cert=cert.pem --tls_key=key.pem --static_dir=www
// (each command is one line, wrapped here)
//
// Prints one line containing "listening" once every address accepts, and
// exits 0 shortly after SIGINT or SIGTERM.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "actnet.h"
#include "examples/http/http_server.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:8080",
          "comma-separated addresses: tcp://, tcp4://, tcp6://, tls://, unix://");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for tls:// addresses");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for tls:// addresses");
ABSL_FLAG(int, tls_handshake_timeout_ms, 10000,
          "close connections whose TLS handshake takes longer");
ABSL_FLAG(std::string, static_dir, "",
          "serve GET /<path> from the files under this directory");
ABSL_FLAG(int, loops, 0, "event loops (0 = one per CPU the process may use)");
ABSL_FLAG(int64_t, max_body, 1 << 20,
          "largest request body in bytes; larger ones get 413");
ABSL_FLAG(bool, pin, false, "pin loop i to CPU i");
ABSL_FLAG(actnet::IoBackend, backend, actnet::IoBackend::kEpoll,
          "kernel interface: epoll, io_uring or auto (EngineOptions::backend)");
ABSL_FLAG(int, busy_poll_us, 0,
          "poll this many microseconds before an idle loop blocks (0 = block at once)");
ABSL_FLAG(int, coalesce_us, -1,
          "wake-up coalescing window in microseconds (0 = off, -1 = the engine's default)");
ABSL_FLAG(int, coalesce_min_busy, -1,
          "coalesce only while the loop is busy this percent of the time "
          "(-1 = the engine's default)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  actnet::EngineOptions options;
  options.loops = absl::GetFlag(FLAGS_loops);
  options.pin_cpus = absl::GetFlag(FLAGS_pin);
  options.backend = absl::GetFlag(FLAGS_backend);
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
  options.tls.alpn = {"http/1.1"};
  actnet::Engine engine(options);
  actnet::http::Server server(
      engine, {.max_body = static_cast<size_t>(absl::GetFlag(FLAGS_max_body)),
               .static_dir = absl::GetFlag(FLAGS_static_dir)});
  for (absl::string_view url :
       absl::StrSplit(absl::GetFlag(FLAGS_addr), ',', absl::SkipEmpty())) {
    absl::Status s = server.Listen(url);
    if (!s.ok()) {
      std::fprintf(stderr, "http: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  actnet::StopOnSignals(engine);  // SIGINT/SIGTERM: graceful stop
  actnet::AnnounceListening(engine, "http");
  absl::Status s = engine.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "http: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
