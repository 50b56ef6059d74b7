// A Redis-protocol (RESP2) server whose keyspace is sharded across the
// event loops; see README.md.
//
//   bazel-bin/examples/redis/redis --addr=tcp://127.0.0.1:6380 --loops=4
//
// Prints one line containing "listening" once it accepts, and exits 0
// shortly after SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "actnet.h"
#include "examples/redis/session.h"
#include "examples/redis/shard.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:6380",
          "comma-separated addresses: tcp://, tcp4://, tcp6://, unix://");
ABSL_FLAG(int, loops, 0, "event loops, one keyspace shard each (0 = per core)");
ABSL_FLAG(bool, pin, false, "pin loop i to CPU i");
ABSL_FLAG(int64_t, max_bulk, 64 << 20, "largest bulk string accepted, bytes");
ABSL_FLAG(int, max_in_flight, 1024, "unanswered requests per connection");

namespace {

actnet::Engine* g_engine = nullptr;
void OnSignal(int) { g_engine->Stop(); }  // Stop is async-signal-safe

int Fail(const absl::Status& s, int code) {
  std::fprintf(stderr, "redis: %s\n", s.ToString().c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using actnet::redis::Shard;
  absl::ParseCommandLine(argc, argv);
  actnet::EngineOptions options;
  options.loops = absl::GetFlag(FLAGS_loops);
  if (options.loops <= 0) {
    options.loops = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  options.pin_cpus = absl::GetFlag(FLAGS_pin);
  actnet::Engine engine(options);

  // One shard per loop, registered before Start; the table is then fixed.
  auto cluster = std::make_shared<actnet::redis::Cluster>();
  for (int i = 0; i < options.loops; ++i) {
    cluster->shards.push_back(
        engine.Spawn(static_cast<uint32_t>(i), std::make_unique<Shard>()));
  }
  actnet::redis::SessionOptions session;
  session.limits.max_bulk = static_cast<size_t>(absl::GetFlag(FLAGS_max_bulk));
  session.max_in_flight = static_cast<size_t>(absl::GetFlag(FLAGS_max_in_flight));
  std::shared_ptr<const actnet::redis::Cluster> shared = cluster;
  for (absl::string_view url :
       absl::StrSplit(absl::GetFlag(FLAGS_addr), ',', absl::SkipEmpty())) {
    absl::Status s = engine.Listen(url, [shared, session] {
      return std::make_unique<actnet::redis::Session>(shared, session);
    });
    if (!s.ok()) return Fail(s, 2);
  }
  g_engine = &engine;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  engine.SetOnBoot([shared](actnet::Engine& e) {
    for (size_t i = 0; i < shared->shards.size(); ++i) {
      const actnet::ActorRef ref = shared->shards[i];
      (void)e.Post(static_cast<uint32_t>(i), [ref](actnet::EventLoop& loop) {
        static_cast<Shard*>(loop.Find(ref))
            ->StartSweeping(loop, absl::Milliseconds(100));
      });
    }
    std::printf("redis: listening on %s with %d loops\n",
                absl::StrJoin(e.ListenAddresses(), ",").c_str(), e.num_loops());
    std::fflush(stdout);
  });
  absl::Status s = engine.Run();
  if (!s.ok()) return Fail(s, 1);
  return 0;
}
