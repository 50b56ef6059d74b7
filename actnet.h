// actnet: the public API in one include.
//
// An Engine owns event loops (one thread each) and serves addresses; each
// connection is a child actor of one loop, driving the user's Handler.
// See README.md for a tour.
#ifndef ACTNET_ACTNET_H_
#define ACTNET_ACTNET_H_

// Bazel 4's default C++ toolchain compiles as C++11 (-std=c++0x), and a
// dependency cannot change the flags of the files that include it.
#if __cplusplus < 202002L
#error "actnet needs C++20: give this target copts = [\"-std=c++20\"], or add build --cxxopt=-std=c++20 to .bazelrc (actnet docs/using.md)"
#endif

#include "actors/actor.h"
#include "actors/actor_ref.h"
#include "actors/connection.h"
#include "actors/engine.h"
#include "actors/envelope.h"
#include "actors/event_loop.h"
#include "actors/handler.h"
#include "actors/options.h"
#include "actors/signals.h"
#include "balance/balancer.h"

#endif  // ACTNET_ACTNET_H_
