// mailbox_bench: the actnet mailbox's loop-to-loop lanes against
// moodycamel::ConcurrentQueue, a mutex-guarded deque and a minimal
// single-producer ring (spsc-ref), in one run with the cases interleaved
// (every repetition runs each case once, round-robin), so slow drift of a
// shared machine hits all cases alike. Prints medians with min-max over the
// repetitions and the same-run ratios behind the targets of issue 19, each
// marked met or missed.
//
//   bazel build -c opt //perf:mailbox_bench
//   bazel-bin/perf/mailbox_bench --reps=5 --case_ms=200
//
// Pinned runs use CPUs 0 and 1: the consumer alone on CPU 1, every producer
// on CPU 0 (with two producers they time-share CPU 0, so the consumer never
// loses its core). Unpinned runs leave placement to the scheduler.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "perf/bench_latency.h"
#include "perf/bench_queues.h"
#include "perf/bench_support.h"

ABSL_FLAG(int, reps, 5, "repetitions of every case (round-robin)");
ABSL_FLAG(int, case_ms, 200, "duration of one run of one case, ms");
ABSL_FLAG(std::string, only, "",
          "run only the throughput cases whose name contains this text "
          "(and skip ping-pong and sleeping-consumer runs); for profiling");
ABSL_FLAG(int, spin_us, 20,
          "sleeping-consumer runs: how long an idle consumer keeps polling "
          "before it parks");
ABSL_FLAG(int, empty_poll_pauses, 1,
          "throughput cases: pause instructions a consumer that found its "
          "queue empty waits before polling again (every queue alike)");
ABSL_FLAG(int, gap_us, 100,
          "sleeping-consumer runs with gaps: producer pause after each batch");
ABSL_FLAG(int, capacity, 1024,
          "slots of a lane and of spsc-ref, and the in-flight bound of the "
          "unbounded queues (a power of two, >= 64; the engine's default "
          "lane is 1024)");

namespace actnet::bench {
namespace {

constexpr size_t kMaxProducers = 2;

// Built in place (Emplace with the fields, no temporary) and with the
// padding 8-aligned. A temporary `Payload{seq, p}` with a 4-byte field
// ending at byte 12 was stored with 8-byte writes and copied with 16-byte
// loads that the store buffer cannot forward; each such load waited for
// the producer's older stores to commit, ring-slot stores included, and at
// 48 bytes that stall cost every queue more than the queue itself
// (perf annotate, 2026-11-29).
template <size_t N>
struct Payload {
  uint64_t seq;
  uint64_t producer;
  unsigned char pad[N - 16];
};
static_assert(sizeof(Payload<16>) == 16 && sizeof(Payload<48>) == 48);
static_assert(kFitsInline<Payload<48>>);

// Runs `producers` producers and one consumer through queue Q for
// `duration`; returns millions of messages per second, counting until the
// consumer has taken everything that was sent.
template <class Q, size_t N>
double RunThroughput(size_t producers, bool pinned,
                     std::chrono::microseconds duration) {
  auto q = std::make_unique<Q>(producers);
  RunControl control(static_cast<int>(producers) + 1);
  PaddedCounter received_from[kMaxProducers];
  std::atomic<uint64_t> sent_total{0};
  std::atomic<size_t> producers_done{0};
  uint64_t received = 0, checksum = 0;
  Clock::time_point end;
  std::vector<std::thread> threads;
  for (size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      PinTo(pinned ? 0 : -1);
      Flow flow(&received_from[p]);
      typename Q::Producer producer(*q, p, &flow);
      control.ArriveAndWait();
      uint64_t seq = 0;
      while (!control.stop()) {
        for (int i = 0; i < 64; ++i, ++seq) {
          const auto build = [&](Envelope& e) {
            e.Emplace<Payload<N>>(MessageTarget{}, seq, uint64_t{p});
          };
          if constexpr (requires { producer.SendBuilt(build); }) {
            producer.SendBuilt(build);
          } else {
            Envelope e;
            build(e);
            producer.Send(std::move(e));
          }
        }
      }
      producer.Finish();
      sent_total.fetch_add(seq, std::memory_order_relaxed);
      producers_done.fetch_add(1, std::memory_order_acq_rel);
    });
  }
  threads.emplace_back([&] {
    PinTo(pinned ? 1 : -1);
    control.ArriveAndWait();
    uint64_t per_producer[kMaxProducers] = {};
    Backoff backoff;
    const int empty_poll_pauses = absl::GetFlag(FLAGS_empty_poll_pauses);
    while (true) {
      const size_t n = q->Consume([&](Envelope& e) {
        const Payload<N>* m = e.As<Payload<N>>();
        checksum += m->seq;
        ++per_producer[m->producer];
      });
      if (n != 0) {
        received += n;
        if constexpr (!Q::kBounded) {
          for (size_t p = 0; p < producers; ++p) {
            received_from[p].value.store(per_producer[p],
                                         std::memory_order_release);
          }
        }
        backoff.Reset();
        continue;
      }
      if (producers_done.load(std::memory_order_acquire) == producers &&
          received == sent_total.load(std::memory_order_relaxed)) {
        break;
      }
      for (int i = 1; i < empty_poll_pauses; ++i) _mm_pause();
      backoff.Wait();
    }
    end = Clock::now();
  });
  const Clock::time_point start = control.StartAndStopAfter(duration);
  for (auto& t : threads) t.join();
  if (checksum == 1) std::puts("");  // keeps the payload reads alive
  return received / std::chrono::duration<double, std::micro>(end - start)
                        .count();
}

struct Case {
  std::string name;
  std::function<double(std::chrono::microseconds)> run;
};

const char* const kKinds[] = {"lane-flush", "lane-push",   "cq",
                              "cq-tok",     "cq-bulk",     "cq-bulk-tok",
                              "mutex-deque", "spsc-ref"};
constexpr int kKindCount = sizeof(kKinds) / sizeof(kKinds[0]);

template <size_t N>
std::function<double(std::chrono::microseconds)> Runner(int kind, size_t p,
                                                        bool pinned) {
  return [=](std::chrono::microseconds d) {
    switch (kind) {
      case 0: return RunThroughput<LaneFlush, N>(p, pinned, d);
      case 1: return RunThroughput<LanePush, N>(p, pinned, d);
      case 2: return RunThroughput<ConcurrentQueueCase<false, false>, N>(p, pinned, d);
      case 3: return RunThroughput<ConcurrentQueueCase<true, false>, N>(p, pinned, d);
      case 4: return RunThroughput<ConcurrentQueueCase<false, true>, N>(p, pinned, d);
      case 5: return RunThroughput<ConcurrentQueueCase<true, true>, N>(p, pinned, d);
      case 6: return RunThroughput<MutexDeque, N>(p, pinned, d);
      default: return RunThroughput<SpscReference, N>(p, pinned, d);
    }
  };
}

std::string Name(size_t p, bool pinned, size_t bytes, const char* kind) {
  return absl::StrFormat("%dP1C %s %2dB %s", p, pinned ? "pinned" : "unpinned",
                         bytes, kind);
}

std::vector<Case> ThroughputCases() {
  std::vector<Case> cases;
  for (bool pinned : {true, false}) {
    for (size_t p : {size_t{1}, size_t{2}}) {
      for (size_t bytes : {size_t{16}, size_t{48}}) {
        for (int kind = 0; kind < kKindCount; ++kind) {
          if (p > 1 && std::string_view(kKinds[kind]) == "spsc-ref") continue;
          cases.push_back(
              {Name(p, pinned, bytes, kKinds[kind]),
               bytes == 16 ? Runner<16>(kind, p, pinned)
                           : Runner<48>(kind, p, pinned)});
        }
      }
    }
  }
  return cases;
}

using Samples = std::map<std::string, std::vector<double>>;

void PrintRow(const std::string& name, const std::vector<double>& v,
              const char* unit, int precision = 2) {
  std::printf("| %-38s | %8.*f | %8.*f – %-8.*f | %s |\n", name.c_str(),
              precision, Median(v), precision, Min(v), precision, Max(v),
              unit);
}

// How long one cache line takes to go from CPU 0 to CPU 1 and back: two
// pinned threads bounce a counter for `duration`; returns ns per round
// trip. The VM's vCPUs are placed anew by the host from time to time (same
// core's SMT siblings, cores sharing a cache, or farther apart), and every
// queue's rate, and the ratios between them, follow that placement; a probe
// before each case says which placement that case ran on.
double ProbeRoundTripNs(std::chrono::milliseconds duration) {
  alignas(kLine) std::atomic<uint64_t> ball{0};
  alignas(kLine) std::atomic<bool> stop{false};
  std::thread other([&] {
    PinTo(1);
    uint64_t seen = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t v = ball.load(std::memory_order_acquire);
      if (v != seen && v % 2 == 1) {
        seen = v + 1;
        ball.store(seen, std::memory_order_release);
      }
    }
  });
  double ns_per_trip = 0;
  // Its own thread, so that the caller's affinity (unpinned cases start
  // their threads from it) is left alone.
  std::thread self([&] {
    PinTo(0);
    const Clock::time_point start = Clock::now();
    uint64_t trips = 0;
    uint64_t v = 1;
    do {  // the clock is read once per 256 trips: it costs a trip or more
      for (int i = 0; i < 256; ++i, v += 2, ++trips) {
        ball.store(v, std::memory_order_release);
        while (ball.load(std::memory_order_acquire) != v + 1) _mm_pause();
      }
    } while (Clock::now() - start < duration);
    const double ns =
        std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    ns_per_trip = trips ? ns / trips : 0;
    stop.store(true, std::memory_order_relaxed);
  });
  self.join();
  other.join();
  return ns_per_trip;
}

// A ratio a / b per repetition (same run), summarised; with several `b`
// cases, b is the fastest of them in that repetition (for "ConcurrentQueue's
// fastest mode"). `higher` says which way the target points; a target of 0
// is a reference ratio. The last column lists each repetition's ratio with
// the cross-core round trip probed before case a of that repetition.
// Returns whether the target is met (a reference counts as met).
struct Targets {
  int met = 0;
  int total = 0;
};
bool PrintRatio(const Samples& s, const std::string& label,
                const std::string& a, const std::vector<std::string>& b,
                double target, bool higher, Targets* targets,
                const Samples* probes = nullptr) {
  if (!s.count(a)) return false;
  for (const std::string& name : b) {
    if (!s.count(name)) return false;
  }
  const std::vector<double>& va = s.at(a);
  std::vector<double> r;
  std::string per_rep;
  for (size_t i = 0; i < va.size(); ++i) {
    double best = 0;
    for (const std::string& name : b) {
      if (i < s.at(name).size()) best = std::max(best, s.at(name)[i]);
    }
    if (best <= 0) continue;
    r.push_back(va[i] / best);
    if (probes != nullptr && probes->count(a) && i < probes->at(a).size()) {
      absl::StrAppendFormat(&per_rep, "%s%.2f@%.0f", per_rep.empty() ? "" : " ",
                            r.back(), probes->at(a)[i]);
    }
  }
  const double m = Median(r);
  if (target <= 0) {
    std::printf("| %-62s | %5.2f | %5.2f – %-5.2f | – | reference | %s |\n",
                label.c_str(), m, Min(r), Max(r), per_rep.c_str());
    return true;
  }
  const bool met = higher ? m >= target : m <= target;
  ++targets->total;
  if (met) ++targets->met;
  std::printf("| %-62s | %5.2f | %5.2f – %-5.2f | %s%.2f | %s | %s |\n",
              label.c_str(), m, Min(r), Max(r), higher ? ">=" : "<=", target,
              met ? "met" : "**missed**", per_rep.c_str());
  return met;
}

// The machine is shared: CPU time that other processes used during the
// run (and steal time, on a VM) says how far to trust the numbers.
struct CpuTimes {
  double busy_all = 0;  // seconds, all CPUs, everyone
  double steal = 0;
  double self = 0;      // this process
};
CpuTimes ReadCpuTimes() {
  CpuTimes t;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (FILE* f = std::fopen("/proc/stat", "r")) {
    unsigned long long v[8] = {};
    if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
      t.busy_all = (v[0] + v[1] + v[2] + v[5] + v[6]) / tick;
      t.steal = v[7] / tick;
    }
    std::fclose(f);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  t.self = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  return t;
}

int Main() {
  const CpuTimes cpu_before = ReadCpuTimes();
  const Clock::time_point run_start = Clock::now();
  const int reps = absl::GetFlag(FLAGS_reps);
  const auto duration = std::chrono::milliseconds(absl::GetFlag(FLAGS_case_ms));
  const auto spin = std::chrono::microseconds(absl::GetFlag(FLAGS_spin_us));
  const auto gap = std::chrono::microseconds(absl::GetFlag(FLAGS_gap_us));
  const int capacity = absl::GetFlag(FLAGS_capacity);
  if (capacity < 64 || (capacity & (capacity - 1)) != 0) {
    std::fprintf(stderr, "--capacity must be a power of two, at least 64\n");
    return 2;
  }
  g_capacity = static_cast<size_t>(capacity);
  std::vector<Case> cases = ThroughputCases();
  const std::string only = absl::GetFlag(FLAGS_only);
  if (!only.empty()) {
    std::erase_if(cases, [&](const Case& c) {
      return c.name.find(only) == std::string::npos;
    });
  }
  Samples mmsgs, latency, sleep, probes;
  const auto probe_time = std::chrono::milliseconds(5);
  for (int rep = 0; rep < reps; ++rep) {
    std::fprintf(stderr, "repetition %d/%d\n", rep + 1, reps);
    for (const Case& c : cases) {
      probes[c.name].push_back(ProbeRoundTripNs(probe_time));
      mmsgs[c.name].push_back(c.run(duration));
      std::fprintf(stderr, "  %-38s %7.2f Mmsg/s, round trip %4.0f ns\n",
                   c.name.c_str(), mmsgs[c.name].back(), probes[c.name].back());
    }
    if (!only.empty()) continue;
    for (int link = 0; link < 2; ++link) {
      const std::vector<uint32_t> rtt =
          link == 0 ? RunPingPong<LaneLink>(duration)
                    : RunPingPong<QueueLink>(duration);
      const std::string who = link == 0 ? "lane pair" : "cq pair (tokens)";
      latency[who + " p50"].push_back(Percentile(rtt, 50));
      latency[who + " p99"].push_back(Percentile(rtt, 99));
      latency[who + " p99.9"].push_back(Percentile(rtt, 99.9));
      latency[who + " round trips/s (M)"].push_back(rtt.size() /
                                                    (duration.count() * 1e3));
    }
    struct SleepCase {
      const char* name;
      std::chrono::microseconds spin, gap;
    };
    const SleepCase sleep_cases[] = {
        {"continuous, park at once", std::chrono::microseconds(0),
         std::chrono::microseconds(0)},
        {"continuous, poll spin_us then park", spin,
         std::chrono::microseconds(0)},
        {"gaps of gap_us per 32, poll spin_us", spin, gap},
    };
    for (const SleepCase& sc : sleep_cases) {
      const SleepResult r = RunSleepingConsumer(duration, sc.spin, sc.gap);
      const std::string n = sc.name;
      sleep[n + ": eventfd writes / 1000 msgs"].push_back(
          1000 * r.wakeups / r.messages);
      sleep[n + ": parks / 1000 msgs"].push_back(1000 * r.parks / r.messages);
      sleep[n + ": Mmsg/s"].push_back(r.messages / r.seconds / 1e6);
    }
  }

  const CpuTimes cpu_after = ReadCpuTimes();
  const double wall =
      std::chrono::duration<double>(Clock::now() - run_start).count();
  std::printf("CPUs: %u; wall %.1f s; this process %.1f CPU-s; other "
              "processes %.1f CPU-s; steal %.1f s\n",
              std::thread::hardware_concurrency(), wall,
              cpu_after.self - cpu_before.self,
              (cpu_after.busy_all - cpu_before.busy_all) -
                  (cpu_after.self - cpu_before.self),
              cpu_after.steal - cpu_before.steal);
  std::printf("\n## Throughput (Mmsg/s), %d reps x %d ms, median and "
              "min – max\n\n", reps, absl::GetFlag(FLAGS_case_ms));
  std::printf("| case | median | min – max | unit |\n|---|---:|---|---|\n");
  for (const Case& c : cases) PrintRow(c.name, mmsgs[c.name], "Mmsg/s");
  std::vector<double> all_probes;
  for (const auto& [name, v] : probes) {
    all_probes.insert(all_probes.end(), v.begin(), v.end());
  }
  std::printf("\nCross-core round trip probed before each case (ns): median "
              "%.0f, min %.0f, max %.0f\n", Median(all_probes),
              Min(all_probes), Max(all_probes));
  if (!only.empty()) return 0;

  std::printf("\n## Ping-pong round trip (ns), pinned 0/1, busy-polling\n\n");
  std::printf("| case | median | min – max | unit |\n|---|---:|---|---|\n");
  for (const auto& [name, v] : latency) {
    const bool rate = name.find("/s") != std::string::npos;
    PrintRow(name, v, rate ? "M/s" : "ns", rate ? 2 : 0);
  }

  std::printf("\n## Sleeping consumer (pinned 0/1, outbox batches of 32, "
              "spin_us=%d, gap_us=%d)\n\n", absl::GetFlag(FLAGS_spin_us),
              absl::GetFlag(FLAGS_gap_us));
  std::printf("| case | median | min – max | unit |\n|---|---:|---|---|\n");
  for (const auto& [name, v] : sleep) PrintRow(name, v, "", 3);

  std::printf("\n## Same-run ratios (median of per-repetition ratios)\n\n"
              "CQ fastest: in each repetition, the faster of cq-bulk and "
              "cq-bulk-tok.\n\n");
  std::printf("| ratio | median | min – max | target | | per repetition: "
              "ratio@round trip ns |\n|---|---:|---|---|---|---|\n");
  Targets targets;
  for (bool pinned : {true, false}) {
    for (size_t bytes : {size_t{16}, size_t{48}}) {
      const std::string tag = absl::StrFormat(
          "%s %dB", pinned ? "pinned" : "unpinned", bytes);
      for (size_t p : {size_t{1}, size_t{2}}) {
        const std::vector<std::string> cq_fastest = {
            Name(p, pinned, bytes, "cq-bulk"),
            Name(p, pinned, bytes, "cq-bulk-tok")};
        PrintRatio(mmsgs, absl::StrFormat("%dP1C lane-flush / CQ fastest, ", p) + tag,
                   Name(p, pinned, bytes, "lane-flush"), cq_fastest, 1.0,
                   true, &targets, &probes);
        if (p == 1) {
          PrintRatio(mmsgs, "1P1C lane-flush / spsc-ref, " + tag,
                     Name(1, pinned, bytes, "lane-flush"),
                     {Name(1, pinned, bytes, "spsc-ref")}, 0.85, true,
                     &targets, &probes);
          PrintRatio(mmsgs, "1P1C lane-push / lane-flush (reference), " + tag,
                     Name(1, pinned, bytes, "lane-push"),
                     {Name(1, pinned, bytes, "lane-flush")}, 0, true,
                     &targets, &probes);
          PrintRatio(mmsgs, "1P1C spsc-ref / CQ fastest (reference), " + tag,
                     Name(1, pinned, bytes, "spsc-ref"), cq_fastest, 0, true,
                     &targets, &probes);
        }
      }
    }
  }
  PrintRatio(latency, "ping-pong p50 lane pair / p50 cq pair", "lane pair p50",
             {"cq pair (tokens) p50"}, 0.6, false, &targets);
  const std::vector<double>& busy =
      sleep.at("continuous, poll spin_us then park: eventfd writes / 1000 msgs");
  const bool busy_met = Median(busy) <= 1.0;
  ++targets.total;
  if (busy_met) ++targets.met;
  std::printf("| %-62s | %5.3f | %5.3f – %-5.3f | <=1.00 | %s | |\n",
              "busy consumer: eventfd writes per 1000 msgs", Median(busy),
              Min(busy), Max(busy), busy_met ? "met" : "**missed**");
  std::printf("\nTargets met: %d of %d\n", targets.met, targets.total);
  return 0;
}

}  // namespace
}  // namespace actnet::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return actnet::bench::Main();
}
