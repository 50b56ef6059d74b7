// abuse: a hostile-but-checked client mix for the soak (perf/soak/soak.sh).
//
//   bazel-bin/perf/soak/abuse --addr=127.0.0.1:9000 --proto=echo --duration=60
//
// Against an echo, HTTP (examples/http) or RESP (examples/redis) server it
// repeats, in random order and gently paced: verified round trips on
// long-lived connections, resets in the middle of a request and of a
// response, half-closes after a request (the reply must still arrive whole,
// then EOF), one-byte-at-a-time requests, bursts of short connections, a
// pool of idle (slowloris) connections that is churned, and for HTTP an
// endless header (must be cut off). Every reply is checked.
//
// Prints one summary line "abuse proto=... ops=... wrong=..." and exits 0
// if every check passed, 1 if any reply was wrong or the server stopped
// answering, 2 on bad flags. Loopback only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:9000", "server host:port (loopback)");
ABSL_FLAG(std::string, proto, "echo", "echo | http | redis");
ABSL_FLAG(double, duration, 60, "seconds to run");
ABSL_FLAG(int, idle, 20, "idle (slowloris) connections kept open");
ABSL_FLAG(int, pace_ms, 3, "pause between operations, milliseconds");
ABSL_FLAG(uint64_t, seed, 1, "random seed");

namespace {

using Clock = std::chrono::steady_clock;

enum class Proto { kEcho, kHttp, kRedis };

sockaddr_in g_addr{};
Proto g_proto = Proto::kEcho;
std::mt19937_64 g_rng;
long g_ops = 0;
long g_wrong = 0;

void Wrong(const char* what, const std::string& detail = "") {
  ++g_wrong;
  if (g_wrong <= 20) std::fprintf(stderr, "abuse: WRONG %s %s\n", what, detail.c_str());
}

// A blocking socket with 10 s send/receive timeouts.
class Sock {
 public:
  Sock() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ok_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&g_addr), sizeof(g_addr)) == 0;
  }
  ~Sock() { Close(); }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
  bool ok() const { return ok_; }
  bool Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Appends what arrives; >0 bytes, 0 at EOF, -1 on error or timeout.
  ssize_t Recv(std::string* out, size_t max = 65536) {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, std::min(max, sizeof(buf)), 0);
    if (n > 0) out->append(buf, static_cast<size_t>(n));
    return n;
  }
  // As Recv, but returns -1 at once (errno EAGAIN) when nothing is there.
  ssize_t RecvNow(std::string* out) {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) out->append(buf, static_cast<size_t>(n));
    return n;
  }
  bool RecvN(std::string* out, size_t n) {
    while (out->size() < n) {
      if (Recv(out, n - out->size()) <= 0) return false;
    }
    return true;
  }
  void ShutWr() { ::shutdown(fd_, SHUT_WR); }
  void Reset() {
    const linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    Close();
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(g_rng());
  return s;
}

// ---- One request/response per protocol ----

struct Exchange {
  std::string request;
  std::string expect;  // exact reply (echo, redis) or body (http)
};

std::string Resp(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

Exchange Make(size_t body) {
  Exchange e;
  switch (g_proto) {
    case Proto::kEcho:
      e.request = RandomBytes(body);
      e.expect = e.request;
      break;
    case Proto::kHttp:
      if (g_rng() % 2 == 0) {
        e.request = "GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n";
        e.expect = "Hello, World!";
      } else {
        e.expect = RandomBytes(body);
        e.request = "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: " +
                    std::to_string(body) + "\r\n\r\n" + e.expect;
      }
      break;
    case Proto::kRedis: {
      // A bounded key set, so the keyspace (and RSS) stays flat.
      const std::string key = "soak:" + std::to_string(::getpid()) + ":" +
                              std::to_string(g_rng() % 64);
      const std::string value = RandomBytes(body);
      e.request = Resp({"SET", key, value}) + Resp({"GET", key});
      e.expect = "+OK\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
      break;
    }
  }
  return e;
}

// Reads one HTTP response; returns its status and body ("" status on error).
bool ReadHttp(Sock& s, std::string* buf, int* status, std::string* body) {
  size_t end;
  while ((end = buf->find("\r\n\r\n")) == std::string::npos) {
    if (s.Recv(buf) <= 0) return false;
  }
  *status = std::atoi(buf->c_str() + 9);
  size_t len = 0;
  const size_t cl = buf->find("Content-Length: ");
  if (cl != std::string::npos && cl < end) len = std::strtoul(buf->c_str() + cl + 16, nullptr, 10);
  if (!s.RecvN(buf, end + 4 + len)) return false;
  *body = buf->substr(end + 4, len);
  buf->erase(0, end + 4 + len);
  return true;
}

// Reads the reply to `e` on `s` and checks it.
bool Check(Sock& s, const Exchange& e, const char* what) {
  std::string got;
  if (g_proto == Proto::kHttp) {
    int status = 0;
    std::string body;
    if (!ReadHttp(s, &got, &status, &body)) {
      Wrong(what, "no complete HTTP response");
      return false;
    }
    if (status != 200 || body != e.expect) {
      Wrong(what, "status " + std::to_string(status) + ", body " + std::to_string(body.size()) +
                      " bytes, expected " + std::to_string(e.expect.size()));
      return false;
    }
    return true;
  }
  if (!s.RecvN(&got, e.expect.size())) {
    Wrong(what, "short reply: " + std::to_string(got.size()) + " of " +
                    std::to_string(e.expect.size()));
    return false;
  }
  if (got != e.expect) {
    Wrong(what, "reply differs");
    return false;
  }
  return true;
}

size_t SomeSize() {
  const uint64_t r = g_rng() % 100;
  if (r < 70) return 1 + g_rng() % 512;
  if (r < 95) return 1 + g_rng() % 16384;
  return 1 + g_rng() % (256 * 1024);
}

// ---- Operations ----

void RoundTrips(std::vector<Sock>& persistent) {
  Sock& s = persistent[g_rng() % persistent.size()];
  const Exchange e = Make(SomeSize());
  if (!s.Send(e.request)) {
    Wrong("round trip", "send failed");
    return;
  }
  Check(s, e, "round trip");
}

void ResetMidRequest() {
  Sock s;
  if (!s.ok()) return Wrong("reset mid-request", "connect failed");
  const Exchange e = Make(1 + g_rng() % 4096);
  s.Send(e.request.substr(0, 1 + g_rng() % e.request.size()));
  s.Reset();
}

void ResetMidResponse() {
  Sock s;
  if (!s.ok()) return Wrong("reset mid-response", "connect failed");
  const Exchange e = Make(256 * 1024);
  s.Send(e.request);
  std::string got;
  s.Recv(&got, 1 + g_rng() % 4096);
  s.Reset();
}

void HalfClose() {
  Sock s;
  if (!s.ok()) return Wrong("half-close", "connect failed");
  Exchange e = Make(SomeSize());
  if (g_proto == Proto::kRedis && g_rng() % 2 == 0) {
    e.request = Resp({"PING"});
    e.expect = "+PONG\r\n";
  }
  if (!s.Send(e.request)) return Wrong("half-close", "send failed");
  s.ShutWr();
  if (!Check(s, e, "half-close")) return;
  std::string rest;
  const ssize_t n = s.Recv(&rest);
  if (n != 0) Wrong("half-close", "no EOF after the reply");
}

void Trickle() {
  Sock s;
  if (!s.ok()) return Wrong("trickle", "connect failed");
  const Exchange e = Make(1 + g_rng() % 64);
  for (char c : e.request) {
    if (!s.Send(std::string(1, c))) return Wrong("trickle", "send failed");
    if (g_rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Check(s, e, "trickle");
}

void Burst() {
  std::vector<Sock> socks(50);
  std::vector<Exchange> sent(socks.size());
  for (size_t i = 0; i < socks.size(); ++i) {
    if (!socks[i].ok()) return Wrong("burst", "connect failed");
    sent[i] = Make(1 + g_rng() % 256);
    if (!socks[i].Send(sent[i].request)) return Wrong("burst", "send failed");
  }
  for (size_t i = 0; i < socks.size(); ++i) {
    Check(socks[i], sent[i], "burst");
    if (i % 2 == 0) socks[i].Reset();
  }
}

void EndlessHeader() {
  Sock s;
  if (!s.ok()) return Wrong("endless header", "connect failed");
  s.Send("GET / HTTP/1.1\r\nHost: soak\r\nX-Endless: ");
  // Cut off means the server answered (431) or ended the connection
  // before 64 MiB. The answer is looked for while sending, like a real
  // client does: after its 431 the server discards input for a while
  // (lingering close, bounded by close_linger) so that the answer is not
  // lost to a reset, and meanwhile sends keep succeeding.
  const std::string chunk(16384, 'a');
  size_t sent = 0;
  std::string got;
  bool ended = false;
  while (sent < (64u << 20) && got.empty() && !ended) {
    if (!s.Send(chunk)) {
      ended = true;
      break;
    }
    sent += chunk.size();
    ended = s.RecvNow(&got) == 0;
  }
  if (sent >= (64u << 20) && got.empty() && !ended) {
    return Wrong("endless header", "never cut off");
  }
  while (s.Recv(&got) > 0) {
  }
  if (!got.empty() && got.compare(0, 12, "HTTP/1.1 431") != 0) {
    Wrong("endless header", "unexpected reply " + got.substr(0, 12));
  }
}

void ChurnIdle(std::vector<std::unique_ptr<Sock>>& idle) {
  const size_t i = g_rng() % idle.size();
  if (g_rng() % 2 == 0) idle[i]->Reset();
  idle[i] = std::make_unique<Sock>();
  if (!idle[i]->ok()) Wrong("idle", "connect failed");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string addr = absl::GetFlag(FLAGS_addr);
  const std::string proto = absl::GetFlag(FLAGS_proto);
  const size_t colon = addr.rfind(':');
  g_addr.sin_family = AF_INET;
  if (colon == std::string::npos ||
      ::inet_pton(AF_INET, addr.substr(0, colon).c_str(), &g_addr.sin_addr) != 1 ||
      (ntohl(g_addr.sin_addr.s_addr) >> 24) != 127) {
    std::fprintf(stderr, "abuse: --addr must be 127.x.x.x:port\n");
    return 2;
  }
  g_addr.sin_port = htons(static_cast<uint16_t>(std::atoi(addr.c_str() + colon + 1)));
  if (proto == "echo") g_proto = Proto::kEcho;
  else if (proto == "http") g_proto = Proto::kHttp;
  else if (proto == "redis") g_proto = Proto::kRedis;
  else {
    std::fprintf(stderr, "abuse: unknown --proto %s\n", proto.c_str());
    return 2;
  }
  g_rng.seed(absl::GetFlag(FLAGS_seed));
  const auto pace = std::chrono::milliseconds(absl::GetFlag(FLAGS_pace_ms));
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(absl::GetFlag(FLAGS_duration)));
  std::vector<Sock> persistent(4);
  std::vector<std::unique_ptr<Sock>> idle;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_idle)); ++i) {
    idle.push_back(std::make_unique<Sock>());
  }
  for (auto& s : persistent) {
    if (!s.ok()) Wrong("connect", "persistent connection refused");
  }
  long counts[8] = {};
  while (Clock::now() < end) {
    const uint64_t r = g_rng() % 100;
    int op;
    if (r < 50) op = 0;
    else if (r < 60) op = 1;
    else if (r < 66) op = 2;
    else if (r < 78) op = 3;
    else if (r < 88) op = 4;
    else if (r < 90) op = 5;
    else if (r < 99) op = 6;
    else op = 7;
    switch (op) {
      case 0: RoundTrips(persistent); break;
      case 1: ResetMidRequest(); break;
      case 2: ResetMidResponse(); break;
      case 3: HalfClose(); break;
      case 4: Trickle(); break;
      case 5: Burst(); break;
      case 6: ChurnIdle(idle); break;
      case 7:
        if (g_proto == Proto::kHttp) EndlessHeader();
        else RoundTrips(persistent);
        break;
    }
    ++counts[op];
    ++g_ops;
    std::this_thread::sleep_for(pace);
  }
  std::printf(
      "abuse proto=%s ops=%ld wrong=%ld roundtrip=%ld reset_req=%ld reset_resp=%ld "
      "halfclose=%ld trickle=%ld burst=%ld idle_churn=%ld endless=%ld\n",
      proto.c_str(), g_ops, g_wrong, counts[0], counts[1], counts[2], counts[3], counts[4],
      counts[5], counts[6], counts[7]);
  return g_wrong == 0 ? 0 : 1;
}
