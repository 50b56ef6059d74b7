// Line-based chat: every line a client sends reaches every other client.
//
//   bazel-bin/examples/chat/chat --addr=tcp://127.0.0.1:7000 --loops=4
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
#include "examples/chat/chat_server.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:7000",
          "comma-separated addresses: tcp://, tcp4://, tcp6://, unix://");
ABSL_FLAG(int, loops, 0, "event loops (0 = one per CPU the process may use)");
ABSL_FLAG(actnet::IoBackend, backend, actnet::IoBackend::kEpoll,
          "kernel interface: epoll, io_uring or auto (EngineOptions::backend)");
ABSL_FLAG(int64_t, max_line, 64 * 1024,
          "longest line in bytes; a longer one gets an error and a close");
ABSL_FLAG(int64_t, max_outbound, 1 << 20,
          "bytes queued for a client that does not read before it is "
          "disconnected");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  actnet::EngineOptions options;
  options.loops = absl::GetFlag(FLAGS_loops);
  options.backend = absl::GetFlag(FLAGS_backend);
  actnet::Engine engine(options);
  actnet::chat::Server server(
      engine,
      {.max_line = static_cast<size_t>(absl::GetFlag(FLAGS_max_line)),
       .max_outbound = static_cast<size_t>(absl::GetFlag(FLAGS_max_outbound))});
  for (absl::string_view url :
       absl::StrSplit(absl::GetFlag(FLAGS_addr), ',', absl::SkipEmpty())) {
    absl::Status s = server.Listen(url);
    if (!s.ok()) {
      std::fprintf(stderr, "chat: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  actnet::StopOnSignals(engine);  // SIGINT/SIGTERM: graceful stop
  actnet::AnnounceListening(engine, "chat");
  absl::Status s = engine.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "chat: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
