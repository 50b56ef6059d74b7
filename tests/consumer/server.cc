// Serves greeter.h on the address given (default tcp://127.0.0.1:9000)
// until SIGINT or SIGTERM. Exits 1, saying why, if it cannot serve.
#include <cstdio>
#include <memory>

#include "greeter.h"

int main(int argc, char** argv) {
  actnet::Engine engine({.loops = 2});
  actnet::ActorRef counter = engine.Spawn(0, std::make_unique<Counter>(engine));
  const char* url = argc > 1 ? argv[1] : "tcp://127.0.0.1:9000";
  absl::Status s = engine.Listen<Greeter>(url, counter);
  if (s.ok()) {
    actnet::StopOnSignals(engine);
    actnet::AnnounceListening(engine, "greeter");
    s = engine.Run();
  }
  if (!s.ok()) {
    std::fprintf(stderr, "greeter: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
