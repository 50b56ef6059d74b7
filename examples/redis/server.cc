#include "examples/redis/server.h"

#include <utility>

#include "absl/strings/str_split.h"

namespace actnet::redis {

absl::Status SetUpServer(Engine& engine, absl::string_view urls,
                         const ServerOptions& options,
                         std::function<void(Engine&)> on_boot) {
  const int loops = engine.options().loops;
  if (loops <= 0) {
    return absl::InvalidArgumentError("redis: the engine needs loops > 0");
  }
  auto cluster = std::make_shared<Cluster>();
  for (int i = 0; i < loops; ++i) {
    cluster->shards.emplace_back(
        engine.Spawn(static_cast<uint32_t>(i), std::make_unique<Shard>()));
  }
  std::shared_ptr<const Cluster> shared = std::move(cluster);
  const SessionOptions session = options.session;
  for (absl::string_view url : absl::StrSplit(urls, ',', absl::SkipEmpty())) {
    absl::Status s = engine.Listen(url, [shared, session] {
      return std::make_unique<Session>(shared, session);
    });
    if (!s.ok()) return s;
  }
  const absl::Duration interval = options.sweep_interval;
  engine.SetOnBoot([shared, interval, on_boot = std::move(on_boot)](Engine& e) {
    for (size_t i = 0; i < shared->shards.size(); ++i) {
      const ActorRef ref = shared->shards[i].get();
      (void)e.Post(static_cast<uint32_t>(i), [ref, interval](EventLoop& loop) {
        static_cast<Shard*>(loop.Find(ref))->StartSweeping(loop, interval);
      });
    }
    if (on_boot) on_boot(e);
  });
  return absl::OkStatus();
}

}  // namespace actnet::redis
