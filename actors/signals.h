// StopOnSignals: makes SIGINT and SIGTERM (or the given signals) stop an
// engine gracefully, the usual wiring for a server's main(). The handler
// only calls Engine::Stop(), which is async-signal-safe. One engine per
// process can be wired this way; a later call replaces the earlier engine.
// Call from the controlling thread, before Run().
#ifndef ACTNET_ACTORS_SIGNALS_H_
#define ACTNET_ACTORS_SIGNALS_H_

#include <csignal>
#include <initializer_list>

#include "actors/engine.h"

namespace actnet {

void StopOnSignals(Engine& engine,
                   std::initializer_list<int> signals = {SIGINT, SIGTERM});

// Prints "<name>: listening on <addresses> with <n> loops" to stdout and
// flushes it, from the engine's boot hook: the readiness line scripts and
// tests wait for.
void AnnounceListening(Engine& engine, const char* name);

}  // namespace actnet

#endif  // ACTNET_ACTORS_SIGNALS_H_
