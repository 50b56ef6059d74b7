#include "actors/signals.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_join.h"

namespace actnet {
namespace {

// Memory ordering: the pointer is published before the handler is
// installed; a handler running on any thread acquires it.
std::atomic<Engine*> g_signal_engine{nullptr};

void StopHandler(int) {
  if (Engine* e = g_signal_engine.load(std::memory_order_acquire)) e->Stop();
}

}  // namespace

void StopOnSignals(Engine& engine, std::initializer_list<int> signals) {
  g_signal_engine.store(&engine, std::memory_order_release);
  struct sigaction action {};
  action.sa_handler = StopHandler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : signals) sigaction(sig, &action, nullptr);
}

void AnnounceListening(Engine& engine, const char* name) {
  std::string label = name;
  engine.SetOnBoot([label](Engine& e) {
    std::printf("%s: listening on %s with %d loops\n", label.c_str(),
                absl::StrJoin(e.ListenAddresses(), ",").c_str(), e.num_loops());
    std::fflush(stdout);
  });
}

}  // namespace actnet
