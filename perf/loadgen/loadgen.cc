// loadgen: a raw-epoll echo load generator, the client side of actnet's
// echo comparisons (perf/compare/compare_echo.sh).
//
//   bazel-bin/perf/loadgen/loadgen --addr=tcp://127.0.0.1:9000 --conns=100
//       --size=16 --depth=1 --warmup=1 --duration=5 --server_pid=$PID
//
// Opens --conns connections (spread over --threads threads, each with its
// own epoll set), keeps --depth requests of --size bytes in flight on each,
// checks every echoed byte, and after --warmup seconds measures for
// --duration seconds. Prints a "#" header and one line of key=value fields:
//   rps        completed echoes per second (each --size bytes)
//   MBps       rps * size / 1e6, one direction
//   pNN_us     latency percentiles from a log-linear histogram (<= 1.6% error)
//   srv_cpu    server CPU in cores over the window (utime+stime of
//              --server_pid, all threads); srv_us_per_op = its µs per echo
//   cli_cpu    this process's CPU in cores
//   other_cpu  everything else on the machine, in cores: the noise level
//   steal      vCPU time taken by the hypervisor, in cores
//   target_rps --rate (0 in closed loop); scheduled = requests scheduled in
//              the window, unfinished = those not echoed --drain seconds
//              after it, backlog_drops = those never sent (backlog full)
// Values that were not measured are -1.
//
// Paced (open-loop) mode, --rate=R: requests are issued on a fixed schedule
// (R per second over all connections, round-robin, up to --depth in flight
// per connection, later ones queued) whatever the server does, and each
// request's latency runs from its scheduled time, not from when it could be
// sent, so a stalled server shows up in the percentiles (no coordinated
// omission). The window holds the requests scheduled in it; after it the
// generator waits up to --drain seconds for them, and any still missing are
// recorded at their age then and counted as unfinished. rps is then the
// requests scheduled in the window and answered, per second.
//
// Connects only to loopback or unix-socket addresses. Always exits by itself
// (an alarm fires a few seconds after warmup+duration). Exit status: 0 ok,
// 1 verification or connection errors during the run, 2 bad flags,
// 3 no connection could be made.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "perf/loadgen/load_thread.h"
#include "perf/loadgen/proc_cpu.h"
#include "perf/loadgen/target.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:9000",
          "echo server: tcp://127.x.x.x:PORT, tcp6://[::1]:PORT or unix:///path");
ABSL_FLAG(int, conns, 100, "connections");
ABSL_FLAG(int, size, 16, "request size in bytes");
ABSL_FLAG(int, depth, 1, "requests in flight per connection (1 = closed loop)");
ABSL_FLAG(double, duration, 5, "measured seconds");
ABSL_FLAG(double, warmup, 1, "seconds of load before the measured window");
ABSL_FLAG(int, threads, 1, "load threads, each with its own epoll set");
ABSL_FLAG(int, server_pid, 0, "server process to charge CPU to (0 = none)");
ABSL_FLAG(bool, verify, true, "check every echoed byte");
ABSL_FLAG(double, rate, 0,
          "target total requests/s, paced per connection (0 = closed loop)");
ABSL_FLAG(double, connect_timeout, 10, "seconds allowed for all connects");
ABSL_FLAG(double, drain, 1,
          "paced mode: seconds to wait after the window for its late requests");

namespace actnet::perf {
namespace {

constexpr int kGraceSeconds = 5;

struct CpuSample {
  std::optional<double> server, self;
  std::optional<SystemCpu> system;
  uint64_t at_ns = 0;
};

CpuSample SampleCpu(pid_t server_pid) {
  CpuSample s;
  if (server_pid > 0) s.server = ProcessCpuSeconds(server_pid);
  s.self = ProcessCpuSeconds(0);
  s.system = ReadSystemCpu();
  s.at_ns = NowNs();
  return s;
}

void SleepUntil(uint64_t ns) {
  for (uint64_t now = NowNs(); now < ns; now = NowNs()) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(ns - now));
  }
}

// Connects `count` non-blocking sockets, waiting up to `timeout_s` for all of
// them together. Failed ones are left out (and reported).
std::vector<int> ConnectAll(const Target& target, int count, double timeout_s) {
  std::vector<int> ready;
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(timeout_s * 1e9);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int pending = 0, failed = 0;
  int last_errno = 0;
  for (int i = 0; i < count; ++i) {
    int fd = socket(target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_errno = errno;
      ++failed;
      continue;
    }
    if (target.is_tcp) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc;
    // A full unix-socket backlog says EAGAIN instead of queueing the
    // connect: retry until the deadline.
    while ((rc = connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len)) < 0 &&
           errno == EAGAIN && NowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (rc == 0) {
      ready.push_back(fd);
    } else if (errno == EINPROGRESS) {
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      ++pending;
    } else {
      last_errno = errno;
      close(fd);
      ++failed;
    }
  }
  epoll_event events[256];
  while (pending > 0) {
    uint64_t now = NowNs();
    if (now >= deadline) break;
    int n = epoll_wait(ep, events, 256, static_cast<int>((deadline - now) / 1000000 + 1));
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd, err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      --pending;
      if (err == 0) {
        ready.push_back(fd);
      } else {
        last_errno = err;
        close(fd);
        ++failed;
      }
    }
  }
  close(ep);  // sockets still pending here are abandoned with the process
  failed += pending;
  if (failed > 0) {
    std::fprintf(stderr, "loadgen: %d of %d connects to %s failed (last error: %s)\n", failed,
                 count, target.text.c_str(), last_errno ? std::strerror(last_errno) : "timeout");
  }
  return ready;
}

double Us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

int Main() {
  const int conns = absl::GetFlag(FLAGS_conns), size = absl::GetFlag(FLAGS_size);
  const int depth = absl::GetFlag(FLAGS_depth);
  const double duration = absl::GetFlag(FLAGS_duration), warmup = absl::GetFlag(FLAGS_warmup);
  const double rate = absl::GetFlag(FLAGS_rate);
  const double connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  const double drain = absl::GetFlag(FLAGS_drain);
  const pid_t server_pid = absl::GetFlag(FLAGS_server_pid);
  int threads = absl::GetFlag(FLAGS_threads);
  if (conns < 1 || conns > 100000 || size < 1 || size > (64 << 20) || depth < 1 ||
      depth > 4096 || !(duration > 0 && duration <= 3600) || !(warmup >= 0 && warmup <= 600) ||
      threads < 1 || threads > 256 || !(rate >= 0 && rate <= 1e8) || server_pid < 0 ||
      !(connect_timeout > 0 && connect_timeout <= 60) || !(drain >= 0 && drain <= 60)) {
    std::fprintf(stderr, "loadgen: a flag is out of range (see --help)\n");
    return 2;
  }
  absl::StatusOr<Target> target = ParseTarget(absl::GetFlag(FLAGS_addr));
  if (!target.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", std::string(target.status().message()).c_str());
    return 2;
  }
  threads = std::min(threads, conns);
  const bool verify = absl::GetFlag(FLAGS_verify);
  std::printf("# loadgen %s conns=%d size=%d depth=%d threads=%d warmup=%.1fs duration=%.1fs "
              "verify=%s mode=%s server_pid=%d\n",
              target->text.c_str(), conns, size, depth, threads, warmup, duration,
              verify ? "on" : "off", rate > 0 ? "paced" : "closed-loop", server_pid);
  std::fflush(stdout);

  // The hard bound: whatever happens, the process ends shortly after its
  // planned end (SIGALRM's default action terminates it).
  alarm(static_cast<unsigned>(std::ceil(connect_timeout + warmup + duration + drain)) +
        kGraceSeconds);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // paced mode wants µs timer wake-ups

  Pattern pattern(static_cast<uint32_t>(size));
  std::vector<int> fds = ConnectAll(*target, conns, connect_timeout);
  if (fds.empty()) {
    std::fprintf(stderr, "loadgen: no connection to %s\n", target->text.c_str());
    return 3;
  }
  LoadConfig config;
  config.size = static_cast<uint32_t>(size);
  config.depth = static_cast<uint32_t>(depth);
  config.verify = verify;
  config.start_ns = NowNs();
  config.window_start_ns = config.start_ns + static_cast<uint64_t>(warmup * 1e9);
  config.end_ns = config.window_start_ns + static_cast<uint64_t>(duration * 1e9);
  config.drain_ns = static_cast<uint64_t>(drain * 1e9);
  std::vector<std::unique_ptr<LoadThread>> workers;
  for (int t = 0; t < threads; ++t) {
    int share = 0;
    for (size_t i = static_cast<size_t>(t); i < fds.size(); i += threads) ++share;
    LoadConfig c = config;
    c.rate = rate * share / static_cast<double>(fds.size());
    workers.push_back(std::make_unique<LoadThread>(c, pattern));
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    workers[i % threads]->Adopt(fds[i], static_cast<uint32_t>(i));
  }
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->Run(); });

  SleepUntil(config.window_start_ns);
  CpuSample begin = SampleCpu(server_pid);
  SleepUntil(config.end_ns);
  CpuSample end = SampleCpu(server_pid);
  for (std::thread& t : running) t.join();

  LoadResult total;
  for (auto& w : workers) {
    const LoadResult& r = w->result();
    total.hist.Merge(r.hist);
    total.ops += r.ops;
    total.verify_errors += r.verify_errors;
    total.conn_errors += r.conn_errors;
    total.backlog_drops += r.backlog_drops;
    total.scheduled += r.scheduled;
    total.unfinished += r.unfinished;
  }
  const double secs = static_cast<double>(end.at_ns - begin.at_ns) / 1e9;
  const double window = duration;  // completions are counted by planned window
  const double rps = static_cast<double>(total.ops) / window;
  double srv = -1, srv_per_op = -1, cli = -1, other = -1, steal = -1;
  if (begin.server && end.server) {
    srv = (*end.server - *begin.server) / secs;
    if (total.ops > 0) srv_per_op = (*end.server - *begin.server) * 1e6 / (rps * secs);
  } else if (server_pid > 0) {
    std::fprintf(stderr, "loadgen: cannot read /proc/%d/stat\n", server_pid);
  }
  if (begin.self && end.self) cli = (*end.self - *begin.self) / secs;
  if (begin.system && end.system) {
    double busy = end.system->busy - begin.system->busy;
    other = (busy - std::max(srv, 0.0) * secs - std::max(cli, 0.0) * secs) / secs;
    steal = (end.system->steal - begin.system->steal) / secs;
  }
  const uint64_t errors = total.verify_errors + total.conn_errors + (conns - fds.size());
  const LatencyHistogram& h = total.hist;
  std::printf("conns=%d size=%d depth=%d secs=%.2f rps=%.0f MBps=%.1f p50_us=%.1f p90_us=%.1f "
              "p99_us=%.1f p999_us=%.1f max_us=%.1f srv_cpu=%.2f srv_us_per_op=%.3f "
              "cli_cpu=%.2f other_cpu=%.2f steal=%.2f connected=%zu verify_errors=%llu "
              "errors=%llu target_rps=%.0f scheduled=%llu unfinished=%llu backlog_drops=%llu\n",
              conns, size, depth, secs, rps, rps * size / 1e6, Us(h.Quantile(0.50)),
              Us(h.Quantile(0.90)), Us(h.Quantile(0.99)), Us(h.Quantile(0.999)), Us(h.max()),
              srv, srv_per_op, cli, other, steal, fds.size(),
              static_cast<unsigned long long>(total.verify_errors),
              static_cast<unsigned long long>(errors), rate,
              static_cast<unsigned long long>(total.scheduled),
              static_cast<unsigned long long>(total.unfinished),
              static_cast<unsigned long long>(total.backlog_drops));
  if (total.backlog_drops > 0) {
    std::fprintf(stderr, "loadgen: %llu paced requests dropped (server far below --rate)\n",
                 static_cast<unsigned long long>(total.backlog_drops));
  }
  return errors > 0 ? 1 : 0;
}

}  // namespace
}  // namespace actnet::perf

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return actnet::perf::Main();
}
