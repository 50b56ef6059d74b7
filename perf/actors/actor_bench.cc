// actor_bench: actnet's messaging end to end, through the public API.
//
//   bazel-bin/perf/actors/actor_bench [--reps=5] [--messages=20000000]
//       [--asks=200000] [--window=64] [--pin=true]
//
// Rows, each repeated --reps times (interleaved), medians reported:
//   tell   a typed Tell of a 16-byte payload from an actor on loop 0 to one
//          on loop 1 (Ref<Sink>), --messages of them: messages/s and ns per
//          message (wall time from the first send to the last receipt).
//          The sender sends 1,024 per turn, then Tells itself to go on, so
//          the loop's own work (outbox flushes) runs between bursts.
//   ask1   Ask round trips, one outstanding: the asker on loop 0 asks the
//          responder on loop 1 again as each reply arrives: round trips/s
//          and µs per round trip (the cross-loop latency, twice).
//   askN   the same with --window asks outstanding: round trips/s.
// Two loops, each on its own thread (cohost_loops off), pinned to CPUs 0
// and 1 with --pin. Prints one line per repetition and a summary.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "actnet.h"

ABSL_FLAG(int, reps, 5, "repetitions of every row");
ABSL_FLAG(int64_t, messages, 20'000'000, "Tells per tell run");
ABSL_FLAG(int64_t, asks, 200'000, "round trips per ask run");
ABSL_FLAG(int, window, 64, "outstanding asks in the askN row");
ABSL_FLAG(bool, pin, true, "pin loop i to CPU i");

namespace {

using Clock = std::chrono::steady_clock;

struct Payload {  // 16 bytes
  uint64_t seq;
  uint64_t stamp;
};
struct Go {};
struct Echo {
  using Reply = uint64_t;
  uint64_t n;
};

// Signalled once by a loop, waited for by main.
struct Done {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Clock::time_point at;
  void Signal() {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    at = Clock::now();
    cv.notify_all();
  }
  Clock::time_point Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    return at;
  }
};

class Sink final : public actnet::Receives<Payload> {
 public:
  Sink(int64_t expect, Done* done) : expect_(expect), done_(done) {}
  void On(Payload& p) override {
    if (p.seq != static_cast<uint64_t>(received_)) ++disorder_;
    if (++received_ == expect_) done_->Signal();
  }
  int64_t disorder() const { return disorder_; }

 private:
  const int64_t expect_;
  Done* done_;
  int64_t received_ = 0;
  int64_t disorder_ = 0;
};

class Source final : public actnet::Receives<Go> {
 public:
  Source(actnet::Ref<Sink> sink, int64_t total) : sink_(sink), total_(total) {}
  void On(Go&) override {
    const int64_t end = std::min(total_, sent_ + 1024);
    while (sent_ < end) {
      absl::Status s = Tell(sink_, Payload{static_cast<uint64_t>(sent_), 0});
      if (!s.ok()) break;  // outbox full: go on next turn
      ++sent_;
    }
    if (sent_ < total_) (void)Tell<Go>(self());
  }

 private:
  actnet::Ref<Sink> sink_;
  const int64_t total_;
  int64_t sent_ = 0;
};

class Responder final : public actnet::Receives<Echo> {
 public:
  void On(Echo& e, actnet::Promise<uint64_t> reply) override { reply.Reply(e.n); }
};

class Asker final : public actnet::Receives<Go> {
 public:
  Asker(actnet::Ref<Responder> to, int64_t total, int window, Done* done)
      : to_(to), total_(total), window_(window), done_(done) {}
  void On(Go&) override {
    for (int i = 0; i < window_; ++i) AskOne();
  }

 private:
  void AskOne() {
    if (asked_ == total_) return;
    ++asked_;
    absl::Status s = Ask(to_, Echo{static_cast<uint64_t>(asked_)}, absl::Seconds(30),
                         [this](absl::StatusOr<uint64_t> r) {
                           if (!r.ok()) ++errors_;
                           if (++answered_ == total_) {
                             done_->Signal();
                             return;
                           }
                           AskOne();
                         });
    if (!s.ok()) ++errors_;
  }

  actnet::Ref<Responder> to_;
  const int64_t total_;
  const int window_;
  Done* done_;
  int64_t asked_ = 0;
  int64_t answered_ = 0;
  int64_t errors_ = 0;
};

actnet::EngineOptions Options() {
  actnet::EngineOptions o;
  o.loops = 2;
  o.cohost_loops = false;
  o.pin_cpus = absl::GetFlag(FLAGS_pin);
  return o;
}

// Starts `engine`, tells `kick` to go, and returns operations per second
// until `done`; then stops the engine.
template <class A>
double Timed(actnet::Engine& engine, const actnet::Ref<A>& kick, Done& done,
             int64_t ops) {
  if (absl::Status s = engine.Start(); !s.ok()) {
    std::fprintf(stderr, "actor_bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  const Clock::time_point t0 = Clock::now();
  (void)engine.Tell(kick, Go{});
  const Clock::time_point t1 = done.Wait();
  engine.Stop();
  engine.Wait();
  return static_cast<double>(ops) / std::chrono::duration<double>(t1 - t0).count();
}

// Messages per second of one tell run.
double TellRun(int64_t n) {
  actnet::Engine engine(Options());
  Done done;
  actnet::Ref<Sink> sink(engine.Spawn(1, std::make_unique<Sink>(n, &done)));
  actnet::Ref<Source> source(engine.Spawn(0, std::make_unique<Source>(sink, n)));
  return Timed(engine, source, done, n);
}

// Round trips per second of one ask run.
double AskRun(int64_t n, int window) {
  actnet::Engine engine(Options());
  Done done;
  actnet::Ref<Responder> responder(engine.Spawn(1, std::make_unique<Responder>()));
  actnet::Ref<Asker> asker(
      engine.Spawn(0, std::make_unique<Asker>(responder, n, window, &done)));
  return Timed(engine, asker, done, n);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int reps = absl::GetFlag(FLAGS_reps);
  const int64_t messages = absl::GetFlag(FLAGS_messages);
  const int64_t asks = absl::GetFlag(FLAGS_asks);
  const int window = absl::GetFlag(FLAGS_window);
  std::vector<double> tell, ask1, askn;
  for (int r = 1; r <= reps; ++r) {
    tell.push_back(TellRun(messages));
    ask1.push_back(AskRun(asks, 1));
    askn.push_back(AskRun(asks * 4, window));
    std::printf("rep %d: tell %.3g msg/s  ask1 %.3g rt/s  ask%d %.3g rt/s\n", r,
                tell.back(), ask1.back(), window, askn.back());
    std::fflush(stdout);
  }
  const double t = Median(tell), a1 = Median(ask1), an = Median(askn);
  std::printf("\n| row | median | per operation | min..max |\n|---|---|---|---|\n");
  std::printf("| tell (typed, 16 B, loop 0 -> loop 1) | %.3g msg/s | %.1f ns/msg | %.3g..%.3g |\n",
              t, 1e9 / t, *std::min_element(tell.begin(), tell.end()),
              *std::max_element(tell.begin(), tell.end()));
  std::printf("| ask, 1 outstanding | %.3g rt/s | %.2f us/rt | %.3g..%.3g |\n", a1,
              1e6 / a1, *std::min_element(ask1.begin(), ask1.end()),
              *std::max_element(ask1.begin(), ask1.end()));
  std::printf("| ask, %d outstanding | %.3g rt/s | %.2f us/rt | %.3g..%.3g |\n", window,
              an, 1e6 / an, *std::min_element(askn.begin(), askn.end()),
              *std::max_element(askn.begin(), askn.end()));
  return 0;
}
