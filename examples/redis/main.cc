// A Redis-protocol (RESP2) server whose keyspace is sharded across the
// event loops; see README.md.
//
//   bazel-bin/examples/redis/redis --addr=tcp://127.0.0.1:6380 --loops=4
//
// Prints one line containing "listening" once it accepts, and exits 0
// shortly after SIGINT or SIGTERM.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "actnet.h"
#include "examples/redis/server.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:6380",
          "comma-separated addresses: tcp://, tcp4://, tcp6://, unix://");
ABSL_FLAG(int, loops, 0, "event loops, one keyspace shard each (0 = per core)");
ABSL_FLAG(bool, pin, false, "pin loop i to CPU i");
ABSL_FLAG(actnet::IoBackend, backend, actnet::IoBackend::kEpoll,
          "kernel interface: epoll, io_uring or auto (EngineOptions::backend)");
ABSL_FLAG(bool, edge_triggered, false,
          "register sockets edge-triggered (EngineOptions::edge_triggered)");
ABSL_FLAG(int, busy_poll_us, 0,
          "poll this many microseconds before an idle loop blocks (0 = block at once)");
ABSL_FLAG(int, coalesce_us, -1,
          "wake-up coalescing window in microseconds (0 = off, -1 = the engine's default)");
ABSL_FLAG(int, coalesce_min_busy, -1,
          "coalesce only while the loop is busy this percent of the time "
          "(-1 = the engine's default)");
ABSL_FLAG(int64_t, max_bulk, 64 << 20, "largest bulk string accepted, bytes");
ABSL_FLAG(int, max_in_flight, 1024, "unanswered requests per connection");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  actnet::EngineOptions options;
  options.loops = absl::GetFlag(FLAGS_loops);
  if (options.loops <= 0) {
    options.loops =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  options.pin_cpus = absl::GetFlag(FLAGS_pin);
  options.backend = absl::GetFlag(FLAGS_backend);
  options.edge_triggered = absl::GetFlag(FLAGS_edge_triggered);
  options.busy_poll = absl::Microseconds(absl::GetFlag(FLAGS_busy_poll_us));
  if (absl::GetFlag(FLAGS_coalesce_us) >= 0) {
    options.coalesce = absl::Microseconds(absl::GetFlag(FLAGS_coalesce_us));
  }
  if (absl::GetFlag(FLAGS_coalesce_min_busy) >= 0) {
    options.coalesce_min_busy_percent = absl::GetFlag(FLAGS_coalesce_min_busy);
  }
  actnet::Engine engine(options);

  actnet::redis::ServerOptions server;
  server.session.limits.max_bulk =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_bulk));
  server.session.max_in_flight =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_in_flight)));
  absl::Status s = actnet::redis::SetUpServer(
      engine, absl::GetFlag(FLAGS_addr), server, [](actnet::Engine& e) {
        std::printf("redis: listening on %s with %d loops\n",
                    absl::StrJoin(e.ListenAddresses(), ",").c_str(),
                    e.num_loops());
        std::fflush(stdout);
      });
  if (!s.ok()) {
    std::fprintf(stderr, "redis: %s\n", s.ToString().c_str());
    return 2;
  }
  actnet::StopOnSignals(engine);  // SIGINT/SIGTERM: graceful stop
  s = engine.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "redis: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
