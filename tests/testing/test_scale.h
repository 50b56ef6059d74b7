// The one sanitizer slow-down factor of the tests. The asan, tsan and ubsan
// configs define ACTNET_SANITIZER; code built that way runs several times
// slower (TSan about ten times), so under a sanitizer
//  - stress sizes (message counts, connections, round trips) shrink by
//    kScaleDivisor, to keep each test within a few seconds, and
//  - deadlines that only catch a hang stretch by kTimeMultiplier.
// Neither is a speed the tests assert: no test bounds how fast anything runs.
#ifndef ACTNET_TESTS_TESTING_TEST_SCALE_H_
#define ACTNET_TESTS_TESTING_TEST_SCALE_H_

#include <chrono>
#include <cstdint>

namespace actnet::testing {

#if defined(ACTNET_SANITIZER)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

inline constexpr int64_t kScaleDivisor = kSanitized ? 10 : 1;
inline constexpr int kTimeMultiplier = kSanitized ? 4 : 1;

// `count` in a plain build, count / kScaleDivisor (at least `floor`) under a
// sanitizer.
constexpr int64_t Scaled(int64_t count, int64_t floor = 1) {
  return count / kScaleDivisor < floor ? floor : count / kScaleDivisor;
}

// A hang-catching timeout: `d`, stretched under a sanitizer.
constexpr std::chrono::steady_clock::duration Slack(std::chrono::steady_clock::duration d) {
  return d * kTimeMultiplier;
}
// The deadline Slack(d) from now.
inline std::chrono::steady_clock::time_point After(std::chrono::steady_clock::duration d) {
  return std::chrono::steady_clock::now() + Slack(d);
}

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_TESTING_TEST_SCALE_H_
