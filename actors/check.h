// Tiny assertion macros for actnet. Abseil 20220623 has no ABSL_CHECK, so
// the project carries its own: ACTNET_CHECK is always on and aborts with the
// failed condition; ACTNET_DCHECK compiles away in optimised builds unless
// ACTNET_SANITIZER is defined (the asan/tsan/ubsan configs define it).
#ifndef ACTNET_ACTORS_CHECK_H_
#define ACTNET_ACTORS_CHECK_H_

#include "absl/base/internal/raw_logging.h"
#include "absl/base/optimization.h"

#define ACTNET_CHECK(cond)                                       \
  do {                                                           \
    if (ABSL_PREDICT_FALSE(!(cond))) {                           \
      ABSL_RAW_LOG(FATAL, "actnet check failed: %s", #cond);     \
    }                                                            \
  } while (0)

#define ACTNET_CHECK_MSG(cond, msg)                                   \
  do {                                                                \
    if (ABSL_PREDICT_FALSE(!(cond))) {                                \
      ABSL_RAW_LOG(FATAL, "actnet check failed: %s: %s", #cond, msg); \
    }                                                                 \
  } while (0)

#if !defined(NDEBUG) || defined(ACTNET_SANITIZER)
#define ACTNET_DCHECK(cond) ACTNET_CHECK(cond)
#define ACTNET_DCHECK_MSG(cond, msg) ACTNET_CHECK_MSG(cond, msg)
#else
#define ACTNET_DCHECK(cond) \
  do {                      \
  } while (false && (cond))
#define ACTNET_DCHECK_MSG(cond, msg) \
  do {                               \
  } while (false && (cond))
#endif

#endif  // ACTNET_ACTORS_CHECK_H_
