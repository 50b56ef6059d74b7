// Tests of the load generator's pieces that can be checked without a
// server: the histogram's error bound, the loopback-only address rule, and
// the /proc readers.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <unistd.h>

#include <cstdint>

#include "doctest/doctest.h"
#include "perf/loadgen/histogram.h"
#include "perf/loadgen/proc_cpu.h"
#include "perf/loadgen/target.h"

namespace actnet::perf {

TEST_SUITE("LatencyHistogram") {
  TEST_CASE("every value lands in a bucket whose highest value is within 1/64 above it") {
    for (uint64_t v = 0; v < 5000000; v += 1 + v / 97) {
      const int i = LatencyHistogram::IndexOf(v);
      REQUIRE(i >= 0);
      REQUIRE(i < LatencyHistogram::kBuckets);
      const uint64_t hi = LatencyHistogram::HighestOf(i);
      REQUIRE(hi >= v);
      REQUIRE(static_cast<double>(hi - v) <= static_cast<double>(v) / 64.0 + 1.0);
      if (i > 0) REQUIRE(LatencyHistogram::HighestOf(i - 1) < v);
    }
    CHECK(LatencyHistogram::IndexOf(LatencyHistogram::kMaxValue) < LatencyHistogram::kBuckets);
  }

  TEST_CASE("percentiles of 1..10000 µs come out within the bucket error") {
    LatencyHistogram h;
    for (uint64_t us = 1; us <= 10000; ++us) h.Record(us * 1000);
    CHECK(h.total() == 10000);
    CHECK(h.Quantile(0.5) == doctest::Approx(5000000).epsilon(0.02));
    CHECK(h.Quantile(0.99) == doctest::Approx(9900000).epsilon(0.02));
    CHECK(h.Quantile(1.0) == 10000000);
    CHECK(h.max() == 10000000);
  }

  TEST_CASE("merging adds counts and keeps the larger maximum; huge values are clamped") {
    LatencyHistogram a, b;
    a.Record(100);
    b.Record(200);
    b.Record(uint64_t{1} << 40);
    a.Merge(b);
    CHECK(a.total() == 3);
    CHECK(a.clamped() == 1);
    CHECK(a.max() == LatencyHistogram::kMaxValue);
  }
}

TEST_SUITE("ParseTarget") {
  TEST_CASE("loopback and unix addresses are accepted") {
    CHECK(ParseTarget("tcp://127.0.0.1:9000").ok());
    CHECK(ParseTarget("tcp4://127.1.2.3:1").ok());
    CHECK(ParseTarget("tcp6://[::1]:9000").ok());
    CHECK(ParseTarget("tcp://localhost:9000").ok());
    CHECK(ParseTarget("unix:///tmp/echo.sock").ok());
  }
  TEST_CASE("other hosts, names, schemes and ports are refused") {
    CHECK(!ParseTarget("tcp://10.0.0.1:9000").ok());
    CHECK(!ParseTarget("tcp://0.0.0.0:9000").ok());
    CHECK(!ParseTarget("tcp6://[2001:db8::1]:9000").ok());
    CHECK(!ParseTarget("tcp://example.com:80").ok());
    CHECK(!ParseTarget("udp://127.0.0.1:9000").ok());
    CHECK(!ParseTarget("tcp://127.0.0.1:0").ok());
    CHECK(!ParseTarget("tcp://127.0.0.1").ok());
    CHECK(!ParseTarget("127.0.0.1:9000").ok());
  }
}

TEST_SUITE("ProcCpu") {
  TEST_CASE("this process and the system can be read; a missing process cannot") {
    CHECK(ProcessCpuSeconds(0).has_value());
    CHECK(ProcessCpuSeconds(getpid()).has_value());
    CHECK(ReadSystemCpu().has_value());
    CHECK(!ProcessCpuSeconds(0x3fffffff).has_value());
  }
}

}  // namespace actnet::perf
