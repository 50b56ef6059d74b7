// actnet: the public API in one include.
//
// An Engine owns event loops (one thread each) and serves addresses; each
// connection is a child actor of one loop, driving the user's Handler.
// See README.md for a tour.
#ifndef ACTNET_ACTNET_H_
#define ACTNET_ACTNET_H_

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
