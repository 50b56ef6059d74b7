// Wiring of the Redis server onto an Engine: one Shard actor per loop, a
// Session per connection, and the periodic expiry sweeps. Used by main.cc
// and by the in-process tests.
#ifndef ACTNET_EXAMPLES_REDIS_SERVER_H_
#define ACTNET_EXAMPLES_REDIS_SERVER_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actnet.h"
#include "examples/redis/session.h"
#include "examples/redis/shard.h"

namespace actnet::redis {

struct ServerOptions {
  SessionOptions session;
  absl::Duration sweep_interval = absl::Milliseconds(100);
};

// Before engine.Start(), from the controlling thread: spawns a Shard on
// each loop (the engine must have been given an explicit loop count),
// serves every comma-separated address in `urls`, and installs an on-boot
// callback that starts the sweeps and then calls `on_boot` (may be null).
absl::Status SetUpServer(Engine& engine, absl::string_view urls,
                         const ServerOptions& options,
                         std::function<void(Engine&)> on_boot);

}  // namespace actnet::redis

#endif  // ACTNET_EXAMPLES_REDIS_SERVER_H_
