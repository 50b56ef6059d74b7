// The client side of the engine: Dial tcp/unix/udp (OnOpen, then the
// callback with the ref; traffic both ways), connect refused and connect
// timeout reported as statuses naming the address, DialAndWait from a
// foreign thread (and refused on a loop thread), Enroll of already-connected
// sockets, and a dialled connection on loop B relaying for a server
// connection on loop A through messages only.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "io/unique_fd.h"
#include "tests/transport/transport_testing.h"

namespace actnet::transport {
namespace {

// What one client connection saw, filled on its loop, read by the test.
struct Record {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;  // "open", "done", "close"
  absl::StatusOr<ActorRef> result = absl::UnknownError("no callback yet");
  std::string bytes;
  std::vector<std::string> datagrams;
  CloseReason reason;
  uint32_t open_loop = 99;
  bool off_loop = false;  // a callback ran on a thread not its loop's

  void Add(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(event);
    cv.notify_all();
  }
  template <class Pred>
  bool Wait(Pred pred, Clock::duration timeout = seconds(10)) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return pred(*this); });
  }
  bool Has(const std::string& event) {
    return std::find(events.begin(), events.end(), event) != events.end();
  }
  DialCallback Callback() {
    return [this](absl::StatusOr<ActorRef> r) {
      // An error of its own, not a share of the loop's: the loop may drop
      // its share only after this returns, through a reference count TSan
      // cannot see in the (uninstrumented) system Abseil; were that the
      // last share, TSan would report the free racing with the test
      // thread's earlier reads.
      if (!r.ok()) r = absl::Status(r.status().code(), std::string(r.status().message()));
      std::lock_guard<std::mutex> lock(mu);
      if (EventLoop::Current() == nullptr) off_loop = true;
      result = std::move(r);
      events.push_back("done");
      cv.notify_all();
    };
  }
};

// Records everything; echoes if `echo`.
class Collector final : public Handler {
 public:
  explicit Collector(Record* r, bool echo = false) : r_(r), echo_(echo) {}
  Action OnOpen(Conn& conn) override {
    std::lock_guard<std::mutex> lock(r_->mu);
    if (!conn.loop().IsCurrent()) r_->off_loop = true;
    r_->open_loop = conn.loop().index();
    r_->events.push_back("open");
    r_->cv.notify_all();
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    const absl::string_view in = conn.Next();
    {
      std::lock_guard<std::mutex> lock(r_->mu);
      if (conn.is_datagram()) {
        r_->datagrams.emplace_back(in);
      } else {
        r_->bytes.append(in.data(), in.size());
      }
      r_->cv.notify_all();
    }
    if (echo_) conn.Write(in);
    return Action::kNone;
  }
  void OnClose(Conn&, const CloseReason& reason) override {
    std::lock_guard<std::mutex> lock(r_->mu);
    r_->reason = reason;
    r_->events.push_back("close");
    r_->cv.notify_all();
  }

 private:
  Record* r_;
  bool echo_;
};

class Echo final : public Handler {
 public:
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
};

// An engine with tcp, unix and udp echo listeners on two loops.
struct EchoServer {
  TempDir dir;
  Engine engine{EngineOptions{.loops = 2}};
  std::string tcp, unix_url, udp;
  EchoServer() {
    REQUIRE(engine.Listen<Echo>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Listen<Echo>("unix://" + dir.File("echo.sock")).ok());
    REQUIRE(engine.Listen<Echo>("udp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    tcp = engine.ListenAddresses()[0];
    unix_url = engine.ListenAddresses()[1];
    udp = engine.ListenAddresses()[2];
  }
};

// Dials `url`, checks OnOpen ran before the callback, and round-trips
// `size` random bytes written with AsyncWrite from this thread.
void DialAndEcho(Engine& engine, const std::string& url, size_t size) {
  Record r;
  REQUIRE(engine.Dial(url, std::make_unique<Collector>(&r), r.Callback()).ok());
  REQUIRE(r.Wait([](Record& x) { return x.Has("done"); }));
  {
    std::lock_guard<std::mutex> lock(r.mu);
    INFO(r.result.status().ToString());
    REQUIRE(r.result.ok());
    REQUIRE(r.events.size() >= 2);
    CHECK(r.events[0] == "open");  // OnOpen, then the callback
    CHECK(r.events[1] == "done");
    CHECK_FALSE(r.off_loop);
    CHECK(r.result->loop == r.open_loop);
  }
  const ActorRef ref = *r.result;
  std::mt19937_64 rng(size);
  const std::string data = RandomBytes(rng, size);
  for (size_t off = 0; off < data.size(); off += 16 * 1024) {
    REQUIRE(engine.AsyncWrite(ref, data.substr(off, 16 * 1024)).ok());
  }
  CHECK(r.Wait([&](Record& x) { return x.bytes.size() >= data.size(); }, seconds(30)));
  {
    std::lock_guard<std::mutex> lock(r.mu);
    CHECK(r.bytes == data);
  }
  REQUIRE(engine.Close(ref).ok());
  CHECK(r.Wait([](Record& x) { return x.Has("close"); }));
  std::lock_guard<std::mutex> lock(r.mu);
  CHECK(r.reason.kind == CloseReason::Kind::kLocal);
}

// Keeps the backlog-1 accept queue of a plain listening socket full, so
// that the kernel drops further SYNs and a connect hangs (SYN retries come
// after 1 s, 3 s, ...).
struct FullListener {
  io::UniqueFd listener;
  std::vector<io::UniqueFd> fillers;
  uint16_t port = 0;
  bool full = false;

  FullListener() {
    listener = io::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener.Get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(listener.Get(), 1) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(listener.Get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    // Connect until the kernel says the queue is full (how long a connect
    // takes to complete is no evidence: it depends on the schedule).
    for (int i = 0; i < 16 && !full; ++i) {
      fillers.push_back(io::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
      const int rc = ::connect(fillers.back().Get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
      if (rc != 0 && errno != EINPROGRESS) break;
      if (rc != 0) WaitReady(fillers.back().Get(), POLLOUT, Clock::now() + milliseconds(500));
      full = QueueFull();
    }
  }

  // More connections wait in the accept queue than the backlog allows
  // (TCP_INFO on a listening socket: tcpi_unacked is the queue's length,
  // tcpi_sacked its bound), so the kernel drops new SYNs.
  bool QueueFull() const {
    tcp_info info{};
    socklen_t len = sizeof(info);
    return ::getsockopt(listener.Get(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
           info.tcpi_unacked > info.tcpi_sacked;
  }
};

TEST_SUITE("dial") {
  TEST_CASE("Dial tcp://: OnOpen, then the callback with the ref; bytes round-trip") {
    const int fds_before = CountOpenFds();
    {
      EchoServer server;
      DialAndEcho(server.engine, server.tcp, 1 << 20);
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("Dial unix:// round-trips bytes") {
    const int fds_before = CountOpenFds();
    {
      EchoServer server;
      DialAndEcho(server.engine, server.unix_url, 256 * 1024);
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("Dial udp:// gives a connected datagram socket: each write one datagram back") {
    const int fds_before = CountOpenFds();
    {
      Record r;  // outlives the engine, whose stop closes the connection
      EchoServer server;
      REQUIRE(server.engine.Dial(server.udp, std::make_unique<Collector>(&r),
                                 r.Callback()).ok());
      REQUIRE(r.Wait([](Record& x) { return x.Has("done"); }));
      REQUIRE(r.result.ok());
      CHECK(r.events.front() == "open");
      std::mt19937_64 rng(7);
      std::vector<std::string> sent;
      for (size_t size : {size_t{1}, size_t{100}, size_t{1400}, size_t{9000}, size_t{65507}}) {
        sent.push_back(RandomBytes(rng, size));
        REQUIRE(server.engine.AsyncWrite(*r.result, sent.back()).ok());
        // One at a time: UDP may drop a burst into a full buffer.
        REQUIRE(r.Wait([&](Record& x) { return x.datagrams.size() == sent.size(); }));
      }
      std::lock_guard<std::mutex> lock(r.mu);
      CHECK(r.datagrams == sent);
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("connect refused is a status naming the address, not a crash") {
    const int fds_before = CountOpenFds();
    {
      EchoServer server;
      // A bound socket that does not listen: SYNs to it get a RST, and
      // holding it keeps the port from being reused meanwhile.
      int closed_port = 0;
      io::UniqueFd closed = BindLoopback(0, &closed_port);
      REQUIRE(closed.IsValid());
      const std::string target = absl::StrCat("127.0.0.1:", closed_port);
      Record r;
      REQUIRE(server.engine.Dial("tcp://" + target, std::make_unique<Collector>(&r),
                                 r.Callback()).ok());
      REQUIRE(r.Wait([](Record& x) { return x.Has("done"); }));
      std::lock_guard<std::mutex> lock(r.mu);
      CAPTURE(r.result.status().ToString());
      REQUIRE_FALSE(r.result.ok());
      CHECK(absl::StrContains(r.result.status().message(), target));
      CHECK(absl::StrContains(r.result.status().message(), "refused"));
      CHECK(r.events == std::vector<std::string>{"done"});  // no OnOpen/OnClose

      // A unix path nobody listens on, and DialAndWait's view of a refusal.
      absl::StatusOr<ActorRef> u = server.engine.DialAndWait(
          "unix://" + server.dir.File("nobody.sock"), std::make_unique<Echo>());
      CAPTURE(u.status().ToString());
      CHECK_FALSE(u.ok());
      CHECK(absl::StrContains(u.status().message(), server.dir.File("nobody.sock")));
      // The loop may release its share of that status only now, through a
      // reference count TSan cannot see (see Record::Callback): join the
      // loops before `u` goes, so the last release is this thread's.
      server.engine.Stop();
      server.engine.Wait();
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("a connect that hangs ends in DeadlineExceeded after DialOptions.timeout") {
    const int fds_before = CountOpenFds();
    {
      FullListener full;
      // Before the engine exists, so before any loop clock the dial's timer
      // can start from.
      const Clock::time_point start = Clock::now();
      EchoServer server;
      if (!full.full) {
        MESSAGE("could not fill a loopback accept queue; timeout not provoked");
      } else {
        const std::string url = absl::StrCat("tcp://127.0.0.1:", full.port);
        Record r;
        REQUIRE(server.engine.Dial(url, std::make_unique<Collector>(&r), r.Callback(),
                                   DialOptions{.timeout = absl::Milliseconds(300)}).ok());
        REQUIRE(r.Wait([](Record& x) { return x.Has("done"); }));
        const auto elapsed = Clock::now() - start;
        std::lock_guard<std::mutex> lock(r.mu);
        CAPTURE(r.result.status().ToString());
        CHECK(r.result.status().code() == absl::StatusCode::kDeadlineExceeded);
        CHECK(absl::StrContains(r.result.status().message(),
                                absl::StrCat("127.0.0.1:", full.port)));
        // Not before the timeout (the library's own timer); how soon after
        // it depends on the schedule.
        CHECK(elapsed >= milliseconds(300));
        CHECK(r.events == std::vector<std::string>{"done"});
      }
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("DialAndWait from a foreign thread; refused on a loop thread") {
    const int fds_before = CountOpenFds();
    {
      Record r;  // outlives the engine, whose stop closes the connection
      EchoServer server;
      absl::StatusOr<ActorRef> ref = absl::UnknownError("not run");
      std::thread t([&] {
        ref = server.engine.DialAndWait(server.tcp, std::make_unique<Collector>(&r));
      });
      t.join();
      INFO(ref.status().ToString());
      REQUIRE(ref.ok());
      CHECK(r.Has("open"));  // open before DialAndWait returned
      REQUIRE(server.engine.AsyncWrite(*ref, "hello").ok());
      CHECK(r.Wait([](Record& x) { return x.bytes == "hello"; }));

      std::mutex mu;
      std::condition_variable cv;
      bool ran = false;
      absl::Status on_loop;
      REQUIRE(server.engine.Post(0, [&](EventLoop&) {
        absl::Status s = server.engine.DialAndWait(server.tcp, std::make_unique<Echo>()).status();
        std::lock_guard<std::mutex> lock(mu);
        on_loop = std::move(s);  // the loop keeps no share (see Record::Callback)
        ran = true;
        cv.notify_all();
      }).ok());
      std::unique_lock<std::mutex> lock(mu);
      REQUIRE(cv.wait_for(lock, seconds(10), [&] { return ran; }));
      CHECK(on_loop.code() == absl::StatusCode::kFailedPrecondition);
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }
}

TEST_CASE("Dial refuses misuse with a status: before Start, a bad URL, no handler") {
  Engine engine(EngineOptions{.loops = 1});
  Record r;
  CHECK(engine.Dial("tcp://127.0.0.1:1", std::make_unique<Echo>(), r.Callback()).code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(engine.Start().ok());
  CHECK(engine.Dial("tcp://nowhere:1", std::make_unique<Echo>(), r.Callback()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(engine.Dial("tcp://127.0.0.1:1", nullptr, r.Callback()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(engine.DialAndWait("bogus", std::make_unique<Echo>()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(r.events.empty());
}

TEST_CASE("after the loops have stopped, Dial, DialAndWait, Enroll and Post "
          "are refused at once and no callback runs") {
  Engine engine(EngineOptions{.loops = 2});
  REQUIRE(engine.Start().ok());
  engine.Stop();
  engine.Wait();
  Record r;
  const absl::Status dialed =
      engine.Dial("tcp://127.0.0.1:1", std::make_unique<Echo>(), r.Callback());
  CHECK(dialed.code() == absl::StatusCode::kFailedPrecondition);
  const Clock::time_point start = Clock::now();
  const absl::StatusOr<ActorRef> waited =
      engine.DialAndWait("tcp://127.0.0.1:1", std::make_unique<Echo>());
  CHECK(waited.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Clock::now() - start < Slack(seconds(5)));  // a hang bound: it refuses at once
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  ::close(fds[1]);
  CHECK(engine.Enroll(io::UniqueFd(fds[0]), std::make_unique<Echo>(), r.Callback())
            .code() == absl::StatusCode::kFailedPrecondition);
  bool ran = false;
  CHECK(engine.Post(1, [&ran](EventLoop&) { ran = true; }).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(ran);
  std::lock_guard<std::mutex> lock(r.mu);
  CHECK(r.events.empty());  // a refused Dial or Enroll never calls `done`
}

// Regression guard: a dial still connecting when the engine stops must
// still hear back (an error), or DialAndWait would block forever.
TEST_CASE("a dial still connecting when the engine stops gets its callback") {
  const int fds_before = CountOpenFds();
  {
    Record r;
    FullListener full;
    if (!full.full) {
      MESSAGE("could not fill a loopback accept queue; case not provoked");
    } else {
      Engine engine(EngineOptions{.loops = 1});
      REQUIRE(engine.Start().ok());
      const std::string url = absl::StrCat("tcp://127.0.0.1:", full.port);
      absl::StatusOr<ActorRef> waited = absl::UnknownError("not run");
      std::mutex mu;
      std::condition_variable cv;
      bool returned = false;
      std::thread waiter([&] {
        absl::StatusOr<ActorRef> res = engine.DialAndWait(
            url, std::make_unique<Echo>(), DialOptions{.timeout = absl::Seconds(30)});
        std::lock_guard<std::mutex> lock(mu);
        waited = std::move(res);
        returned = true;
        cv.notify_all();
      });
      REQUIRE(engine.Dial(url, std::make_unique<Collector>(&r), r.Callback(),
                          DialOptions{.timeout = absl::Seconds(30)}).ok());
      // Both connects are pending once the loop has run the Dial tasks;
      // a round trip through the loop orders this after them.
      std::promise<void> posted;
      REQUIRE(engine.Post(0, [&](EventLoop&) { posted.set_value(); }).ok());
      posted.get_future().wait();
      const Clock::time_point start = Clock::now();
      engine.Stop();
      engine.Wait();
      // Not the dials' 30 s timeout (the bound stays well short of it).
      CHECK(Clock::now() - start < Slack(seconds(5)));
      CHECK(r.Wait([](Record& x) { return x.Has("done"); }, seconds(5)));
      {
        std::lock_guard<std::mutex> lock(r.mu);
        CHECK_FALSE(r.result.ok());
      }
      {
        std::unique_lock<std::mutex> lock(mu);
        const bool ok = cv.wait_for(lock, seconds(5), [&] { return returned; });
        CHECK(ok);
        if (ok) CHECK_FALSE(waited.ok());
      }
      if (!returned) {
        // Do not leave a thread blocked on a callback that never comes:
        // the test has failed; end the process rather than hang.
        std::fflush(stdout);
        std::fprintf(stderr, "FAILED: DialAndWait never returned after Stop\n");
        std::quick_exit(1);
      }
      waiter.join();
    }
  }
  CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
}

// ---------------------------------------------------------------------------
// Enroll.

// Enrolls `mine` with an echoing Collector and checks traffic both ways
// through `theirs`: theirs -> engine -> theirs (echo), AsyncWrite -> theirs,
// then theirs closing closes the enrolled connection.
void EnrollAndTalk(Engine& engine, int mine, int theirs, bool datagram) {
  Record r;
  REQUIRE(engine.Enroll(io::UniqueFd(mine), std::make_unique<Collector>(&r, true),
                        r.Callback()).ok());
  REQUIRE(r.Wait([](Record& x) { return x.Has("done"); }));
  REQUIRE(r.result.ok());
  CHECK(r.events.front() == "open");
  const Clock::time_point deadline = Clock::now() + seconds(10);
  const std::string ping = "ping from the other end";
  REQUIRE(SendAll(theirs, ping, deadline));
  std::string back;
  if (datagram) {
    bool ok = false;
    back = RecvDatagram(theirs, deadline, &ok);
  } else {
    RecvExactly(theirs, ping.size(), &back, deadline);
  }
  CHECK(back == ping);
  REQUIRE(engine.AsyncWrite(*r.result, "push from the engine").ok());
  back.clear();
  if (datagram) {
    bool ok = false;
    back = RecvDatagram(theirs, deadline, &ok);
  } else {
    RecvExactly(theirs, 20, &back, deadline);
  }
  CHECK(back == "push from the engine");
  if (!datagram) {
    ::shutdown(theirs, SHUT_RDWR);
    CHECK(r.Wait([](Record& x) { return x.Has("close"); }));
    CHECK(r.reason.kind == CloseReason::Kind::kPeerClosed);
  } else {
    REQUIRE(engine.Close(*r.result).ok());
    CHECK(r.Wait([](Record& x) { return x.Has("close"); }));
  }
}

TEST_CASE("Enroll adopts connected sockets: a unix pair, a datagram pair and a TCP pair") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(EngineOptions{.loops = 2});
    REQUIRE(engine.Start().ok());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    io::UniqueFd theirs(sv[1]);
    ::fcntl(sv[1], F_SETFL, O_NONBLOCK);
    EnrollAndTalk(engine, sv[0], sv[1], false);

    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
    io::UniqueFd theirs_dgram(sv[1]);
    ::fcntl(sv[1], F_SETFL, O_NONBLOCK);
    EnrollAndTalk(engine, sv[0], sv[1], true);

    int listen_port = 0;
    io::UniqueFd listener = BindLoopback(4, &listen_port);
    REQUIRE(listener.IsValid());
    Client client = Client::Connect(absl::StrCat("tcp://127.0.0.1:", listen_port));
    REQUIRE(client.valid());
    const int accepted = ::accept4(listener.Get(), nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(accepted >= 0);
    EnrollAndTalk(engine, accepted, client.fd(), false);
  }
  CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
}

// ---------------------------------------------------------------------------
// A server connection on loop A and its dialled partner on loop B talk only
// through messages.

struct Bytes {
  std::string data;
};
struct PartnerReady {
  ActorRef ref;
};
struct PartnerGone {};

struct RelayLog {
  std::mutex mu;
  std::vector<uint32_t> front_loops, relay_loops;
  bool off_loop = false;
  bool same_loop = false;  // a relay on its front's loop
  void Note(std::vector<uint32_t>* v, const Conn& c) {
    std::lock_guard<std::mutex> lock(mu);
    v->push_back(c.loop().index());
    if (!c.loop().IsCurrent()) off_loop = true;
  }
};

// The dialled side (loop B): upstream bytes go to the front as messages.
class Relay final : public Handler {
 public:
  Relay(ActorRef front, RelayLog* log) : front_(front), log_(log) {}
  Action OnOpen(Conn& conn) override {
    log_->Note(&log_->relay_loops, conn);
    if (front_.loop == conn.loop().index()) {
      std::lock_guard<std::mutex> lock(log_->mu);
      log_->same_loop = true;
    }
    (void)conn.loop().engine().Tell<PartnerReady>(front_, PartnerReady{conn.ref()});
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    log_->Note(&log_->relay_loops, conn);
    (void)conn.loop().engine().Tell<Bytes>(front_, Bytes{std::string(conn.Next())});
    return Action::kNone;
  }
  Action OnMessage(Conn& conn, Envelope& m) override {
    log_->Note(&log_->relay_loops, conn);
    if (auto* b = m.As<Bytes>()) conn.Write(b->data);
    if (m.Is<PartnerGone>()) conn.Close();
    return Action::kNone;
  }
  void OnClose(Conn& conn, const CloseReason&) override {
    (void)conn.loop().engine().Tell<PartnerGone>(front_);
  }

 private:
  ActorRef front_;
  RelayLog* log_;
};

// The accepted side (loop A): dials the upstream on the other loop.
class Front final : public Handler {
 public:
  Front(std::string upstream, RelayLog* log) : upstream_(std::move(upstream)), log_(log) {}
  Action OnOpen(Conn& conn) override {
    log_->Note(&log_->front_loops, conn);
    conn.PauseReading();  // until the relay is open
    Engine& engine = conn.loop().engine();
    const ActorRef self = conn.ref();
    DialOptions options;
    options.loop = static_cast<int>((conn.loop().index() + 1) % engine.num_loops());
    absl::Status s = engine.Dial(
        upstream_, std::make_unique<Relay>(self, log_),
        [&engine, self](absl::StatusOr<ActorRef> r) {
          if (!r.ok()) (void)engine.Tell<PartnerGone>(self);
        },
        options);
    return s.ok() ? Action::kNone : Action::kClose;
  }
  Action OnData(Conn& conn) override {
    log_->Note(&log_->front_loops, conn);
    (void)conn.loop().engine().Tell<Bytes>(relay_, Bytes{std::string(conn.Next())});
    return Action::kNone;
  }
  Action OnMessage(Conn& conn, Envelope& m) override {
    log_->Note(&log_->front_loops, conn);
    if (auto* ready = m.As<PartnerReady>()) {
      relay_ = ready->ref;
      conn.ResumeReading();
    } else if (auto* b = m.As<Bytes>()) {
      conn.Write(b->data);
    } else if (m.Is<PartnerGone>()) {
      conn.Close();
    }
    return Action::kNone;
  }
  void OnClose(Conn& conn, const CloseReason&) override {
    if (relay_.valid()) (void)conn.loop().engine().Tell<PartnerGone>(relay_);
  }

 private:
  std::string upstream_;
  RelayLog* log_;
  ActorRef relay_;
};

TEST_CASE("a dialled connection on loop B relays for a server connection on loop A by messages") {
  const int fds_before = CountOpenFds();
  {
    // The upstream echo runs in its own engine so every relay connection
    // this engine owns is a dialled one.
    Engine upstream(EngineOptions{.loops = 1});
    REQUIRE(upstream.Listen<Echo>("tcp://127.0.0.1:0").ok());
    REQUIRE(upstream.Start().ok());
    RelayLog log;
    Engine engine(EngineOptions{.loops = 2});
    const std::string upstream_url = upstream.ListenAddresses()[0];
    REQUIRE(engine.Listen("tcp://127.0.0.1:0", [&log, upstream_url] {
                    return std::make_unique<Front>(upstream_url, &log);
                  }).ok());
    REQUIRE(engine.Start().ok());
    std::mt19937_64 rng(11);
    const Clock::time_point deadline = Clock::now() + seconds(30);
    for (int c = 0; c < 4; ++c) {
      Client client = Client::Connect(engine.ListenAddresses()[0]);
      REQUIRE(client.valid());
      const std::string data = RandomBytes(rng, 512 * 1024);
      std::string back;
      // Sends and receives on the fd: two threads, no shared last_error().
      std::thread writer([&] { CHECK(SendAll(client.fd(), data, deadline)); });
      CHECK(RecvExactly(client.fd(), data.size(), &back, deadline));
      writer.join();
      CHECK(back == data);
    }
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }));
    std::lock_guard<std::mutex> lock(log.mu);
    CHECK_FALSE(log.off_loop);
    CHECK_FALSE(log.same_loop);
    REQUIRE(!log.front_loops.empty());
    REQUIRE(!log.relay_loops.empty());
    // Each pair sat on different loops, and both loops served fronts.
    std::set<uint32_t> fronts(log.front_loops.begin(), log.front_loops.end());
    CHECK(fronts.size() == 2);
  }
  CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
}

}  // namespace
}  // namespace actnet::transport
