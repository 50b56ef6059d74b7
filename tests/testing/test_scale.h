// Scales the message counts of stress tests: the sanitizer configs define
// ACTNET_SANITIZER, and TSan runs about ten times slower, so counts shrink
// tenfold there to keep each test within a few seconds.
#ifndef ACTNET_TESTS_TESTING_TEST_SCALE_H_
#define ACTNET_TESTS_TESTING_TEST_SCALE_H_

#include <cstdint>

namespace actnet::testing {

#if defined(ACTNET_SANITIZER)
inline constexpr int64_t kScaleDivisor = 10;
#else
inline constexpr int64_t kScaleDivisor = 1;
#endif

// `count` in a plain build, count / 10 under a sanitizer.
constexpr int64_t Scaled(int64_t count) { return count / kScaleDivisor; }

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_TESTING_TEST_SCALE_H_
