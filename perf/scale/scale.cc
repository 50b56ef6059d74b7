// scale: the connection-scale benchmark's client (driven by perf/scale/scale.sh).
//
//   bazel-bin/perf/scale/scale --addr=tcp://127.0.0.1:9000 --conns=19000
//       --server_pid=$PID
//
// Opens --conns concurrent idle TCP connections to an echo server, spread
// over several worker processes (forked from this one, each below its own
// fd limit), optionally from several loopback source addresses (bind with
// IP_BIND_ADDRESS_NO_PORT before connect, so each source has the whole
// ephemeral port range). Then:
//   1. connect phase: every worker connects its share at once (at most
//      --inflight connects pending per worker); reported: connections/s
//      until the last one is established as the clients see it, and until
//      the server holds them all (its /proc/PID/fd count, polled every
//      --poll_ms), failed connects, server CPU per 1,000 accepts, listen
//      queue overflows/drops (TcpExt, this network namespace);
//   2. idle: after --settle seconds, the server's VmRSS and RssAnon;
//   3. echo: one --size-byte message on every connection, different on each,
//      each echo checked byte for byte; then, after --settle seconds, the
//      server's memory again (all connections idle);
//   4. close: workers close everything and exit; the server's memory and fd
//      count once it has let go of the connections.
// Memory per connection = (idle - before) / connections, in bytes.
//
// Output: a "#" header, progress lines, and one "result" line of key=value
// fields (-1 = not measured). Exit status: 0 when every connect succeeded and
// every echo matched, 1 otherwise, 2 bad flags. Connects only to loopback.
// Every process bounds itself with alarm(), and workers exit when this
// process goes away (their command pipe reaches EOF).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "perf/loadgen/proc_cpu.h"
#include "perf/loadgen/target.h"
#include "perf/scale/proc_mem.h"

ABSL_FLAG(std::string, addr, "tcp://127.0.0.1:9000", "echo server: tcp://127.x.x.x:PORT");
ABSL_FLAG(int, conns, 19000, "concurrent connections in total");
ABSL_FLAG(int, per_proc, 5000,
          "connections per worker process (capped by the fd limit)");
ABSL_FLAG(std::string, sources, "auto",
          "source addresses, comma-separated (127.x.x.x), or 'auto': none (kernel's "
          "choice) up to a quarter of the ephemeral port range, else enough of "
          "127.0.0.2..127.0.0.9 for a quarter of the range each");
ABSL_FLAG(int, inflight, 256, "connects pending at once per worker");
ABSL_FLAG(int, size, 16, "bytes in the one message echoed per connection");
ABSL_FLAG(int, server_pid, 0, "the server, for memory, fds and CPU (0 = none)");
ABSL_FLAG(double, connect_timeout, 60, "seconds allowed for the connect phase");
ABSL_FLAG(double, echo_timeout, 30, "seconds allowed for the echo phase");
ABSL_FLAG(double, settle, 1, "seconds to wait before each memory reading");
ABSL_FLAG(int, poll_ms, 2, "how often the listen socket's accept queue is read");
ABSL_FLAG(int, max_queue, 2048,
          "workers start no connect while the server's accept queue holds this many "
          "(keeps below the listen backlog, so no SYN is dropped; 0 = no limit)");

namespace actnet::perf {
namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- worker <-> parent protocol: one byte commands, fixed-size reports ----

constexpr char kCmdConnect = 'C', kCmdEcho = 'E', kCmdQuit = 'Q';

struct ConnectReport {
  uint32_t ok = 0, failed = 0;
  int32_t last_errno = 0;
  uint64_t first_ns = 0, last_ns = 0;  // first / last connection established
};

struct EchoReport {
  uint32_t ok = 0, bad = 0, missing = 0;
  uint64_t start_ns = 0, last_ns = 0;
};

bool ReadFull(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t r = write(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// The message for connection `conn` of worker `worker`: distinct per
// connection, so a crossed or repeated echo fails the comparison.
void FillMessage(uint32_t worker, uint32_t conn, std::vector<uint8_t>& out) {
  uint64_t x = (uint64_t{worker} << 32 | conn) * 0x9E3779B97F4A7C15ull + 1;
  for (uint8_t& b : out) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 29;
    b = static_cast<uint8_t>(x);
  }
}

// Shared between the parent and the workers (MAP_SHARED, before fork): the
// parent publishes the server's accept queue length, each worker how many
// of its connections are established.
struct alignas(64) Slot64 {
  std::atomic<int64_t> value{0};
};
static_assert(std::atomic<int64_t>::is_always_lock_free);

struct WorkerConfig {
  uint32_t index = 0;
  uint32_t first_conn = 0;  // global index of this worker's first connection
  uint32_t count = 0;
  const Target* target = nullptr;
  std::vector<sockaddr_in> sources;  // empty: let the kernel choose
  int inflight = 256;
  uint32_t size = 16;
  double connect_timeout = 60, echo_timeout = 30;
  int max_queue = 0;                    // 0: no throttle
  Slot64* queue_len = nullptr;          // published by the parent
  Slot64* established = nullptr;        // this worker's count
};

class Worker {
 public:
  explicit Worker(const WorkerConfig& c) : c_(c), fds_(c.count, -1), pending_(c.count, false) {}

  ConnectReport Connect() {
    ConnectReport r;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    const uint64_t deadline = NowNs() + static_cast<uint64_t>(c_.connect_timeout * 1e9);
    uint32_t next = 0;
    int pending = 0;
    auto established = [&](uint64_t now) {
      ++r.ok;
      c_.established->value.store(r.ok, std::memory_order_relaxed);
      if (r.first_ns == 0) r.first_ns = now;
      r.last_ns = now;
    };
    auto fail = [&](uint32_t i, int err) {
      ++r.failed;
      r.last_errno = err;
      if (fds_[i] >= 0) close(fds_[i]);
      fds_[i] = -1;
    };
    epoll_event events[512];
    while ((next < c_.count || pending > 0) && NowNs() < deadline) {
      const bool throttled =
          c_.max_queue > 0 && c_.queue_len->value.load(std::memory_order_relaxed) >= c_.max_queue;
      while (!throttled && next < c_.count && pending < c_.inflight) {
        const uint32_t i = next++;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
          fail(i, errno);
          continue;
        }
        fds_[i] = fd;
        if (!c_.sources.empty()) {
          int one = 1;
          setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
          const sockaddr_in& src = c_.sources[(c_.first_conn + i) % c_.sources.size()];
          if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
            fail(i, errno);
            continue;
          }
        }
        int rc = connect(fd, reinterpret_cast<const sockaddr*>(&c_.target->addr), c_.target->len);
        if (rc == 0) {
          established(NowNs());
        } else if (errno == EINPROGRESS) {
          epoll_event ev{};
          ev.events = EPOLLOUT;
          ev.data.u32 = i;
          epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
          pending_[i] = true;
          ++pending;
        } else {
          fail(i, errno);
        }
      }
      int n = epoll_wait(ep_, events, 512, throttled || pending > 0 ? 1 : 50);
      const uint64_t now = NowNs();
      for (int k = 0; k < n; ++k) {
        const uint32_t i = events[k].data.u32;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fds_[i], SOL_SOCKET, SO_ERROR, &err, &len);
        epoll_ctl(ep_, EPOLL_CTL_DEL, fds_[i], nullptr);
        pending_[i] = false;
        --pending;
        if (err == 0) {
          established(now);
        } else {
          fail(i, err);
        }
      }
    }
    for (uint32_t i = 0; i < next && pending > 0; ++i) {  // still pending at the deadline
      if (!pending_[i]) continue;
      --pending;
      epoll_ctl(ep_, EPOLL_CTL_DEL, fds_[i], nullptr);
      fail(i, ETIMEDOUT);
    }
    r.failed += c_.count - next;  // never started (deadline)
    return r;
  }

  EchoReport Echo() {
    EchoReport r;
    const uint32_t size = c_.size;
    std::vector<uint8_t> msg(size);
    std::vector<uint32_t> got(c_.count, 0);
    std::vector<uint8_t> buf(size + 1);
    r.start_ns = NowNs();
    uint32_t waiting = 0;
    for (uint32_t i = 0; i < c_.count; ++i) {
      if (fds_[i] < 0) continue;
      FillMessage(c_.index, i, msg);
      ssize_t w = write(fds_[i], msg.data(), size);  // fits any socket buffer
      if (w != static_cast<ssize_t>(size)) {
        ++r.bad;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, fds_[i], &ev);
      ++waiting;
    }
    const uint64_t deadline = NowNs() + static_cast<uint64_t>(c_.echo_timeout * 1e9);
    epoll_event events[512];
    std::vector<uint8_t> expect(size);
    while (waiting > 0 && NowNs() < deadline) {
      int n = epoll_wait(ep_, events, 512, 50);
      for (int k = 0; k < n; ++k) {
        const uint32_t i = events[k].data.u32;
        // Read at most what is still due plus one byte, to see a surplus.
        ssize_t m = read(fds_[i], buf.data(), size - got[i] + 1);
        if (m < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        FillMessage(c_.index, i, expect);
        bool done = false, bad = false;
        if (m <= 0 || got[i] + static_cast<uint32_t>(m) > size ||
            std::memcmp(buf.data(), expect.data() + got[i], static_cast<size_t>(m)) != 0) {
          bad = true;
        } else {
          got[i] += static_cast<uint32_t>(m);
          done = got[i] == size;
        }
        if (bad || done) {
          epoll_ctl(ep_, EPOLL_CTL_DEL, fds_[i], nullptr);
          --waiting;
          ++(bad ? r.bad : r.ok);
          r.last_ns = NowNs();
        }
      }
    }
    r.missing = waiting;
    return r;
  }

  void CloseAll() {
    for (int& fd : fds_) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    if (ep_ >= 0) close(ep_);
    ep_ = -1;
  }

 private:
  WorkerConfig c_;
  std::vector<int> fds_;
  std::vector<bool> pending_;  // connect in progress
  int ep_ = -1;
};

[[noreturn]] void WorkerMain(const WorkerConfig& config, int cmd_fd, int report_fd,
                             unsigned alarm_s) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  alarm(alarm_s);
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  Worker w(config);
  for (;;) {
    char cmd;
    if (!ReadFull(cmd_fd, &cmd, 1) || cmd == kCmdQuit) break;
    if (cmd == kCmdConnect) {
      ConnectReport r = w.Connect();
      if (!WriteFull(report_fd, &r, sizeof r)) break;
    } else if (cmd == kCmdEcho) {
      EchoReport r = w.Echo();
      if (!WriteFull(report_fd, &r, sizeof r)) break;
    }
  }
  w.CloseAll();
  _exit(0);
}

// ---- parent ----

struct WorkerHandle {
  pid_t pid = -1;
  int cmd_fd = -1, report_fd = -1;
  uint32_t count = 0;
};

// The accept queue of the IPv4 TCP listener on addr:port (connections the
// kernel has established and the server has not accepted yet), from
// NETLINK_SOCK_DIAG: for a listening socket idiag_rqueue is that length.
class AcceptQueueProbe {
 public:
  explicit AcceptQueueProbe(const sockaddr_in& listen) : listen_(listen) {
    fd_ = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  }
  ~AcceptQueueProbe() {
    if (fd_ >= 0) close(fd_);
  }
  std::optional<int64_t> Read() {
    if (fd_ < 0) return std::nullopt;
    struct {
      nlmsghdr nlh;
      inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = ++seq_;
    msg.req.sdiag_family = AF_INET;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = 1u << TCP_LISTEN;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
      return std::nullopt;
    }
    std::optional<int64_t> found;
    alignas(nlmsghdr) char buf[32768];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n));
           h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_DONE) return found;
        if (h->nlmsg_type == NLMSG_ERROR) return std::nullopt;
        const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
        if (d->id.idiag_sport == listen_.sin_port &&
            d->id.idiag_src[0] == listen_.sin_addr.s_addr) {
          found = d->idiag_rqueue;
        }
      }
    }
  }

 private:
  sockaddr_in listen_;
  int fd_ = -1;
  uint32_t seq_ = 0;
};

std::optional<int> CountFds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

// TcpExt counters from /proc/net/netstat (this network namespace).
std::optional<long long> TcpExt(const std::string& name) {
  std::ifstream in("/proc/net/netstat");
  std::string keys, values;
  while (std::getline(in, keys) && std::getline(in, values)) {
    if (keys.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream k(keys), v(values);
    std::string key, value;
    while (k >> key && v >> value) {
      if (key == name) return std::stoll(value);
    }
  }
  return std::nullopt;
}

std::optional<std::pair<int, int>> EphemeralRange() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int lo, hi;
  if (in >> lo >> hi) return std::make_pair(lo, hi);
  return std::nullopt;
}

void SleepFor(double s) {
  std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9)));
}

std::string MemText(const std::optional<ProcMem>& m) {
  if (!m) return "unreadable";
  char b[128];
  std::snprintf(b, sizeof b, "VmRSS=%lld kB RssAnon=%lld kB", m->vm_rss_kb, m->rss_anon_kb);
  return b;
}

int Main() {
  const int conns = absl::GetFlag(FLAGS_conns), size = absl::GetFlag(FLAGS_size);
  const int inflight = absl::GetFlag(FLAGS_inflight), poll_ms = absl::GetFlag(FLAGS_poll_ms);
  const double connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  const double echo_timeout = absl::GetFlag(FLAGS_echo_timeout);
  const double settle = absl::GetFlag(FLAGS_settle);
  const pid_t server_pid = absl::GetFlag(FLAGS_server_pid);
  int per_proc = absl::GetFlag(FLAGS_per_proc);
  if (conns < 1 || conns > 10000000 || size < 1 || size > 65536 || inflight < 1 ||
      per_proc < 1 || poll_ms < 1 || poll_ms > 10000 || server_pid < 0 ||
      !(connect_timeout > 0 && connect_timeout <= 600) ||
      !(echo_timeout > 0 && echo_timeout <= 600) || !(settle >= 0 && settle <= 60)) {
    std::fprintf(stderr, "scale: a flag is out of range (see --help)\n");
    return 2;
  }
  absl::StatusOr<Target> target = ParseTarget(absl::GetFlag(FLAGS_addr));
  if (!target.ok() || !target->is_tcp || target->addr.ss_family != AF_INET) {
    std::fprintf(stderr, "scale: --addr must be tcp://127.x.x.x:PORT (%s)\n",
                 target.ok() ? "not IPv4 TCP" : std::string(target.status().message()).c_str());
    return 2;
  }
  // Each worker stays below its own fd limit (the hard one, which it raises
  // its soft limit to), with room for epoll, pipes and stdio.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const long fd_cap = static_cast<long>(std::min<rlim_t>(rl.rlim_max, 1 << 24)) - 64;
  if (fd_cap < 1) {
    std::fprintf(stderr, "scale: fd limit too low\n");
    return 2;
  }
  per_proc = static_cast<int>(std::min<long>(per_proc, fd_cap));
  const int procs = (conns + per_proc - 1) / per_proc;

  // Source addresses.
  std::vector<sockaddr_in> sources;
  std::string sources_text = absl::GetFlag(FLAGS_sources);
  const auto range = EphemeralRange();
  const int ports = range ? range->second - range->first + 1 : 28232;
  if (sources_text == "auto") {
    // The kernel's search for a free port (connect without bind, or bind
    // with IP_BIND_ADDRESS_NO_PORT) gets slower as one (source, destination)
    // pair fills the range: give each source at most a quarter of it.
    const int per_source = std::max(1, ports / 4);
    if (conns <= per_source) {
      sources_text = "";
    } else {
      const int need = std::min(8, (conns + per_source - 1) / per_source);
      sources_text.clear();
      for (int i = 0; i < need; ++i) {
        sources_text += (i ? ",127.0.0." : "127.0.0.") + std::to_string(2 + i);
      }
    }
  }
  for (absl::string_view s : absl::StrSplit(sources_text, ',', absl::SkipEmpty())) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    std::string host(s);
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
        (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
      std::fprintf(stderr, "scale: source '%s' is not a 127.x.x.x address\n", host.c_str());
      return 2;
    }
    sources.push_back(a);
  }
  const int source_count = std::max<int>(1, static_cast<int>(sources.size()));
  if (conns > static_cast<long>(ports) * source_count) {
    std::fprintf(stderr,
                 "scale: warning: %d connections from %d source address(es) exceed the "
                 "ephemeral range (%d ports each); connects will fail with "
                 "EADDRNOTAVAIL (pass more --sources)\n",
                 conns, source_count, ports);
  }

  std::printf("# scale %s conns=%d procs=%d per_proc<=%d sources=%s inflight=%d size=%d "
              "server_pid=%d ephemeral_ports=%d fd_hard_limit=%ld\n",
              target->text.c_str(), conns, procs, per_proc,
              sources.empty() ? "kernel" : sources_text.c_str(), inflight, size, server_pid,
              ports, static_cast<long>(rl.rlim_max));
  std::fflush(stdout);

  const unsigned budget =
      static_cast<unsigned>(std::ceil(connect_timeout + echo_timeout + 4 * settle)) + 60;
  alarm(budget + 10);
  signal(SIGPIPE, SIG_IGN);

  // Server before.
  std::optional<ProcMem> mem_before;
  std::optional<int> fds_before;
  if (server_pid > 0) {
    mem_before = ReadProcMem(server_pid);
    fds_before = CountFds(server_pid);
    if (!mem_before || !fds_before) {
      std::fprintf(stderr, "scale: cannot read /proc/%d (status, fd)\n", server_pid);
      return 2;
    }
    std::printf("server before: %s fds=%d\n", MemText(mem_before).c_str(), *fds_before);
    std::fflush(stdout);
  }

  // Shared counters: [0] the accept queue, [1 + w] worker w's established.
  const size_t shared_bytes = sizeof(Slot64) * (1 + static_cast<size_t>(procs));
  void* shared_mem = mmap(nullptr, shared_bytes, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared_mem == MAP_FAILED) {
    std::perror("scale: mmap");
    return 1;
  }
  Slot64* shared = new (shared_mem) Slot64[1 + procs];
  AcceptQueueProbe probe(*reinterpret_cast<const sockaddr_in*>(&target->addr));
  const bool have_queue = probe.Read().has_value();
  const int max_queue = have_queue ? absl::GetFlag(FLAGS_max_queue) : 0;
  if (!have_queue) {
    std::fprintf(stderr, "scale: cannot read the listen socket's accept queue (sock_diag); "
                         "no throttle, and the server's view comes from its fd count\n");
  }

  // Fork the workers.
  std::vector<WorkerHandle> workers(static_cast<size_t>(procs));
  uint32_t assigned = 0;
  for (int w = 0; w < procs; ++w) {
    int cmd[2], rep[2];
    if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
      std::perror("scale: pipe");
      return 1;
    }
    WorkerConfig wc;
    wc.index = static_cast<uint32_t>(w);
    wc.first_conn = assigned;
    wc.count = static_cast<uint32_t>(std::min(per_proc, conns - static_cast<int>(assigned)));
    wc.target = &*target;
    wc.sources = sources;
    wc.inflight = inflight;
    wc.size = static_cast<uint32_t>(size);
    wc.connect_timeout = connect_timeout;
    wc.echo_timeout = echo_timeout;
    wc.max_queue = max_queue;
    wc.queue_len = &shared[0];
    wc.established = &shared[1 + w];
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("scale: fork");
      return 1;
    }
    if (pid == 0) {
      for (int k = 0; k < w; ++k) {
        close(workers[k].cmd_fd);
        close(workers[k].report_fd);
      }
      close(cmd[1]);
      close(rep[0]);
      WorkerMain(wc, cmd[0], rep[1], budget);
    }
    close(cmd[0]);
    close(rep[1]);
    workers[w] = WorkerHandle{pid, cmd[1], rep[0], wc.count};
    assigned += wc.count;
  }

  auto command = [&](char c) {
    for (auto& w : workers) WriteFull(w.cmd_fd, &c, 1);
  };

  // ---- connect phase ----
  const long long overflows_before = TcpExt("ListenOverflows").value_or(-1);
  const long long drops_before = TcpExt("ListenDrops").value_or(-1);
  const std::optional<double> srv_cpu0 =
      server_pid > 0 ? ProcessCpuSeconds(server_pid) : std::nullopt;
  const uint64_t t0 = NowNs();
  command(kCmdConnect);
  std::vector<bool> reported(workers.size(), false);
  ConnectReport total;
  uint64_t last_ns = 0, server_all_ns = 0;
  std::optional<double> srv_cpu1;
  size_t reports = 0;
  int64_t max_queue_seen = 0;
  int32_t last_errno = 0;
  uint64_t last_fd_poll = 0;
  const uint64_t phase_deadline = t0 + static_cast<uint64_t>((connect_timeout + 10) * 1e9);
  while (NowNs() < phase_deadline) {
    std::vector<pollfd> pfds;
    std::vector<size_t> which;
    for (size_t w = 0; w < workers.size(); ++w) {
      if (!reported[w]) {
        pfds.push_back(pollfd{workers[w].report_fd, POLLIN, 0});
        which.push_back(w);
      }
    }
    if (!pfds.empty()) poll(pfds.data(), pfds.size(), poll_ms);
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (!(pfds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ConnectReport r;
      reported[which[k]] = true;
      ++reports;
      if (!ReadFull(pfds[k].fd, &r, sizeof r)) {
        std::fprintf(stderr, "scale: worker %zu died in the connect phase\n", which[k]);
        total.failed += workers[which[k]].count;
        continue;
      }
      total.ok += r.ok;
      total.failed += r.failed;
      if (r.last_errno) last_errno = r.last_errno;
      last_ns = std::max(last_ns, r.last_ns);
    }
    // The server's view: connections established by the clients minus
    // those still waiting in its accept queue (or, without sock_diag, its
    // fd count, which is slow to read: every 100 ms).
    if (server_all_ns == 0) {
      const int64_t target_conns =
          reports == workers.size() ? static_cast<int64_t>(total.ok) : conns;
      std::optional<int64_t> accepted;
      const uint64_t now = NowNs();
      if (have_queue) {
        int64_t established = 0;
        for (int w = 0; w < procs; ++w) {
          established += shared[1 + w].value.load(std::memory_order_relaxed);
        }
        if (std::optional<int64_t> q = probe.Read()) {
          shared[0].value.store(*q, std::memory_order_relaxed);
          max_queue_seen = std::max(max_queue_seen, *q);
          accepted = established - *q;
        }
      } else if (server_pid > 0 && now - last_fd_poll > 100000000) {
        last_fd_poll = now;
        if (auto n = CountFds(server_pid)) accepted = *n - *fds_before;
      }
      if (accepted && *accepted >= target_conns && target_conns > 0) {
        server_all_ns = now;
        if (server_pid > 0) srv_cpu1 = ProcessCpuSeconds(server_pid);
      }
    }
    if (reports == workers.size() && (server_all_ns != 0 || (!have_queue && server_pid == 0))) {
      break;
    }
    // The server gets 10 s more than the clients to take its connections.
    if (reports == workers.size() && NowNs() > std::max(last_ns, t0) + 10000000000ull) break;
    if (pfds.empty()) SleepFor(poll_ms / 1000.0);
  }
  if (reports < workers.size()) {
    std::fprintf(stderr, "scale: %zu worker(s) did not report the connect phase\n",
                 workers.size() - reports);
    for (size_t w = 0; w < workers.size(); ++w) {
      if (!reported[w]) total.failed += workers[w].count;
    }
  }
  const long long overflows = TcpExt("ListenOverflows").value_or(-1) - overflows_before;
  const long long drops = TcpExt("ListenDrops").value_or(-1) - drops_before;
  const double client_s = last_ns > t0 ? static_cast<double>(last_ns - t0) / 1e9 : -1;
  const double server_s = server_all_ns > t0 ? static_cast<double>(server_all_ns - t0) / 1e9 : -1;
  const double client_rate = client_s > 0 ? total.ok / client_s : -1;
  const double server_rate = server_s > 0 ? total.ok / server_s : -1;
  double srv_us_per_accept = -1;
  if (srv_cpu0 && srv_cpu1 && total.ok > 0) {
    srv_us_per_accept = (*srv_cpu1 - *srv_cpu0) * 1e6 / total.ok;
  }
  const int server_conns =
      server_pid > 0 ? CountFds(server_pid).value_or(-1) - *fds_before : -1;
  std::printf("connect: ok=%u failed=%u%s%s clients_done=%.3fs (%.0f conn/s) "
              "server_accepted_all=%.3fs (%.0f conn/s, server CPU %.1f us/accept) "
              "server_fds=+%d max_accept_queue=%lld listen_overflows=%lld listen_drops=%lld\n",
              total.ok, total.failed, last_errno ? " last_error=" : "",
              last_errno ? std::strerror(last_errno) : "", client_s, client_rate, server_s,
              server_rate, srv_us_per_accept, server_conns,
              static_cast<long long>(max_queue_seen), overflows, drops);
  std::fflush(stdout);

  // ---- idle ----
  SleepFor(settle);
  std::optional<ProcMem> mem_idle;
  std::optional<int> fds_idle;
  if (server_pid > 0) {
    mem_idle = ReadProcMem(server_pid);
    fds_idle = CountFds(server_pid);
    std::printf("server idle, connected: %s fds=%d\n", MemText(mem_idle).c_str(),
                fds_idle.value_or(-1));
    std::fflush(stdout);
  }

  // ---- echo ----
  command(kCmdEcho);
  EchoReport echo;
  uint64_t echo_last = 0;
  for (size_t w = 0; w < workers.size(); ++w) {
    EchoReport r;
    if (!ReadFull(workers[w].report_fd, &r, sizeof r)) {
      std::fprintf(stderr, "scale: worker %zu died in the echo phase\n", w);
      continue;
    }
    echo.ok += r.ok;
    echo.bad += r.bad;
    echo.missing += r.missing;
    echo_last = std::max(echo_last, r.last_ns);
    if (echo.start_ns == 0 || r.start_ns < echo.start_ns) echo.start_ns = r.start_ns;
  }
  const double echo_s =
      echo_last > echo.start_ns ? static_cast<double>(echo_last - echo.start_ns) / 1e9 : -1;
  std::printf("echo: ok=%u bad=%u missing=%u in %.3fs\n", echo.ok, echo.bad, echo.missing,
              echo_s);
  std::fflush(stdout);
  SleepFor(settle);
  std::optional<ProcMem> mem_after_echo;
  if (server_pid > 0) {
    mem_after_echo = ReadProcMem(server_pid);
    std::printf("server idle, after echo: %s\n", MemText(mem_after_echo).c_str());
    std::fflush(stdout);
  }

  // ---- close ----
  command(kCmdQuit);
  for (auto& w : workers) {
    close(w.cmd_fd);
    close(w.report_fd);
  }
  const uint64_t close_start = NowNs();
  for (auto& w : workers) {
    int status;
    while (waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  double close_s = -1;
  std::optional<ProcMem> mem_closed;
  if (server_pid > 0) {
    const uint64_t deadline = NowNs() + static_cast<uint64_t>((10 + settle) * 1e9);
    while (NowNs() < deadline) {
      auto n = CountFds(server_pid);
      if (n && *n <= *fds_before) {
        close_s = static_cast<double>(NowNs() - close_start) / 1e9;
        break;
      }
      SleepFor(poll_ms / 1000.0);
    }
    SleepFor(settle);
    mem_closed = ReadProcMem(server_pid);
    std::printf("server after close (%s): %s fds=%d\n",
                close_s >= 0 ? "all released" : "NOT all released", MemText(mem_closed).c_str(),
                CountFds(server_pid).value_or(-1));
  }

  auto per_conn = [&](const std::optional<ProcMem>& after, long long ProcMem::*field) {
    if (!after || !mem_before || total.ok == 0) return -1.0;
    return static_cast<double>((*after).*field - (*mem_before).*field) * 1024.0 / total.ok;
  };
  auto kb = [](const std::optional<ProcMem>& m, long long ProcMem::*field) {
    return m ? (*m).*field : -1LL;
  };
  std::printf(
      "result conns=%d procs=%d sources=%d ok=%u failed=%u client_s=%.3f client_cps=%.0f "
      "server_s=%.3f server_cps=%.0f srv_us_per_accept=%.2f server_conns=%d max_accept_queue=%lld "
      "listen_overflows=%lld "
      "listen_drops=%lld echo_ok=%u echo_bad=%u echo_missing=%u echo_s=%.3f "
      "rss_before_kb=%lld rss_idle_kb=%lld rss_echo_kb=%lld rss_closed_kb=%lld "
      "anon_before_kb=%lld anon_idle_kb=%lld anon_echo_kb=%lld anon_closed_kb=%lld "
      "rss_per_conn_B=%.0f anon_per_conn_B=%.0f rss_per_conn_echo_B=%.0f "
      "anon_per_conn_echo_B=%.0f close_s=%.3f\n",
      conns, procs, static_cast<int>(sources.size()), total.ok, total.failed, client_s,
      client_rate, server_s, server_rate, srv_us_per_accept, server_conns,
      static_cast<long long>(max_queue_seen), overflows, drops, echo.ok,
      echo.bad, echo.missing, echo_s, kb(mem_before, &ProcMem::vm_rss_kb),
      kb(mem_idle, &ProcMem::vm_rss_kb), kb(mem_after_echo, &ProcMem::vm_rss_kb),
      kb(mem_closed, &ProcMem::vm_rss_kb), kb(mem_before, &ProcMem::rss_anon_kb),
      kb(mem_idle, &ProcMem::rss_anon_kb), kb(mem_after_echo, &ProcMem::rss_anon_kb),
      kb(mem_closed, &ProcMem::rss_anon_kb), per_conn(mem_idle, &ProcMem::vm_rss_kb),
      per_conn(mem_idle, &ProcMem::rss_anon_kb), per_conn(mem_after_echo, &ProcMem::vm_rss_kb),
      per_conn(mem_after_echo, &ProcMem::rss_anon_kb), close_s);
  const bool ok = total.failed == 0 && total.ok == static_cast<uint32_t>(conns) &&
                  (server_pid == 0 || server_conns == conns) &&
                  echo.ok == total.ok && echo.bad == 0 && echo.missing == 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace actnet::perf

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return actnet::perf::Main();
}
