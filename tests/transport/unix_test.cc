// Unix stream sockets through the engine: echo, a stale socket file left by
// a dead listener replaced at Start, the file removed on graceful stop, a
// live listener and a non-socket file left alone, the 107-byte path limit;
// and TCP + unix + UDP served by one engine on the same four loops.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/transport/transport_testing.h"

namespace actnet::transport {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsSocketFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Binds a unix socket at `path` and closes it without unlinking: what a
// listener killed by SIGKILL leaves behind.
void LeaveStaleSocket(const std::string& path) {
  io::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.IsValid());
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd.Get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)) == 0);
  REQUIRE(::listen(fd.Get(), 1) == 0);
}

class Echo final : public Handler {
 public:
  Action OnData(Conn& conn) override {
    conn.Write(conn.Next());
    return Action::kNone;
  }
};

// Round-trips `rounds` random payloads on each of `clients` connections.
void EchoClients(const std::string& url, int clients, int rounds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Client> conns;
  for (int i = 0; i < clients; ++i) {
    std::string error;
    conns.push_back(Client::Connect(url, &error));
    INFO(url, ": ", error);
    REQUIRE(conns.back().valid());
  }
  const Clock::time_point deadline = Clock::now() + seconds(60);
  for (int r = 0; r < rounds; ++r) {
    for (Client& c : conns) {
      const std::string data = RandomBytes(rng, 1 + rng() % (96 * 1024));
      REQUIRE(c.RoundTrip(data, deadline));
    }
  }
}

TEST_SUITE("unix") {
  TEST_CASE("16 clients echo byte-exact over a unix socket on two loops") {
    const int fds_before = CountOpenFds();
    {
      TempDir dir;
      REQUIRE(!dir.path().empty());
      Engine engine(EngineOptions{.loops = 2});
      REQUIRE(engine.Listen<Echo>("unix://" + dir.File("e.sock")).ok());
      REQUIRE(engine.Start().ok());
      CHECK(engine.ListenAddresses().at(0) == "unix://" + dir.File("e.sock"));
      EchoClients(engine.ListenAddresses().at(0), 16, static_cast<int>(Scaled(20, 4)) + 1, 1);
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("a stale socket file is replaced at Start and removed on stop") {
    const int fds_before = CountOpenFds();
    TempDir dir;
    const std::string path = dir.File("stale.sock");
    LeaveStaleSocket(path);
    REQUIRE(IsSocketFile(path));
    {
      Engine engine(EngineOptions{.loops = 2});
      REQUIRE(engine.Listen<Echo>("unix://" + path).ok());
      absl::Status s = engine.Start();
      INFO(s.ToString());
      REQUIRE(s.ok());
      EchoClients("unix://" + path, 2, 3, 2);
      engine.Stop();
      engine.Wait();
      CHECK_FALSE(Exists(path));  // removed on graceful stop
    }
    CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
  }

  TEST_CASE("a live listener's socket file is neither stolen nor removed") {
    TempDir dir;
    const std::string url = "unix://" + dir.File("live.sock");
    Engine first(EngineOptions{.loops = 1});
    REQUIRE(first.Listen<Echo>(url).ok());
    REQUIRE(first.Start().ok());
    {
      Engine second(EngineOptions{.loops = 1});
      REQUIRE(second.Listen<Echo>(url).ok());
      absl::Status s = second.Start();
      CAPTURE(s.ToString());
      CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
      CHECK(absl::StrContains(s.message(), dir.File("live.sock")));
    }
    CHECK(IsSocketFile(dir.File("live.sock")));
    EchoClients(url, 1, 2, 3);  // the first engine still serves it
  }

  TEST_CASE("a file that is not a socket is never removed") {
    TempDir dir;
    const std::string path = dir.File("plain");
    std::ofstream(path) << "keep me";
    Engine engine(EngineOptions{.loops = 1});
    REQUIRE(engine.Listen<Echo>("unix://" + path).ok());
    CHECK_FALSE(engine.Start().ok());
    std::string content;
    std::getline(std::ifstream(path), content);
    CHECK(content == "keep me");
  }

  TEST_CASE("a 107-byte path works and a 108-byte one is InvalidArgument naming it") {
    TempDir dir;
    const std::string base = dir.path() + "/";
    REQUIRE(base.size() < 100);
    const std::string ok_path = base + std::string(107 - base.size(), 'a');
    const std::string long_path = base + std::string(108 - base.size(), 'b');
    REQUIRE(ok_path.size() == 107);
    {
      Engine engine(EngineOptions{.loops = 1});
      REQUIRE(engine.Listen<Echo>("unix://" + ok_path).ok());
      absl::Status s = engine.Start();
      INFO(s.ToString());
      REQUIRE(s.ok());
      EchoClients("unix://" + ok_path, 1, 2, 4);
    }
    CHECK_FALSE(Exists(ok_path));
    Engine engine(EngineOptions{.loops = 1});
    absl::Status s = engine.Listen<Echo>("unix://" + long_path);
    if (s.ok()) s = engine.Start();  // either may refuse it, one must
    CAPTURE(s.ToString());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), long_path));
    CHECK(absl::StrContains(s.message(), "107"));
    CHECK_FALSE(Exists(long_path));
  }
}

// ---------------------------------------------------------------------------
// TCP + unix + UDP on one engine.

struct LoopRecord {
  std::atomic<uint32_t> loops_seen{0};  // bit i: loop i served one
  std::atomic<int> opens{0};
  void Saw(const Conn& conn) { loops_seen.fetch_or(1u << conn.loop().index()); }
};

// The same handler type for TCP and UDP (told apart by their records)...
class RecordingEcho final : public Handler {
 public:
  explicit RecordingEcho(LoopRecord* record) : record_(record) {}
  Action OnOpen(Conn& conn) override {
    ++record_->opens;
    record_->Saw(conn);
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    if (conn.is_datagram()) record_->Saw(conn);
    conn.Write(conn.Next());
    return Action::kNone;
  }

 private:
  LoopRecord* record_;
};

// ...and a handler of its own for the unix socket: it answers upper-cased.
class UpperEcho final : public Handler {
 public:
  explicit UpperEcho(LoopRecord* record) : record_(record) {}
  Action OnOpen(Conn& conn) override {
    ++record_->opens;
    record_->Saw(conn);
    return Action::kNone;
  }
  Action OnData(Conn& conn) override {
    std::string s(conn.Next());
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    conn.Write(s);
    return Action::kNone;
  }

 private:
  LoopRecord* record_;
};

TEST_CASE("one engine serves TCP, unix and UDP on the same four loops") {
  const int fds_before = CountOpenFds();
  {
    TempDir dir;
    LoopRecord tcp, unix_rec, udp;
    Engine engine(EngineOptions{.loops = 4});
    REQUIRE(engine.Listen("tcp://127.0.0.1:0", [&tcp] {
                    return std::make_unique<RecordingEcho>(&tcp);
                  }).ok());
    REQUIRE(engine.Listen("unix://" + dir.File("mix.sock"), [&unix_rec] {
                    return std::make_unique<UpperEcho>(&unix_rec);
                  }).ok());
    REQUIRE(engine.Listen("udp://127.0.0.1:0", [&udp] {
                    return std::make_unique<RecordingEcho>(&udp);
                  }).ok());
    REQUIRE(engine.Start().ok());
    const std::vector<std::string> urls = engine.ListenAddresses();
    REQUIRE(urls.size() == 3);
    CHECK(absl::StartsWith(urls[0], "tcp://127.0.0.1:"));
    CHECK(urls[1] == "unix://" + dir.File("mix.sock"));
    CHECK(absl::StartsWith(urls[2], "udp://127.0.0.1:"));

    constexpr int kPerTransport = 8;
    std::atomic<int> failures{0};
    std::vector<Client> tcp_fds, unix_fds, udp_fds;
    for (int i = 0; i < kPerTransport; ++i) {
      tcp_fds.push_back(Client::Connect(urls[0]));
      unix_fds.push_back(Client::Connect(urls[1]));
      udp_fds.push_back(Client::Connect(urls[2]));
      REQUIRE(tcp_fds.back().valid());
      REQUIRE(unix_fds.back().valid());
      REQUIRE(udp_fds.back().valid());
    }
    const Clock::time_point deadline = Clock::now() + seconds(60);
    // All three transports at once, one client thread each.
    std::thread tcp_thread([&] {
      for (int r = 0; r < 50; ++r) {
        for (Client& c : tcp_fds) {
          if (!c.RoundTrip("tcp payload " + std::to_string(r), deadline)) ++failures;
        }
      }
    });
    std::thread unix_thread([&] {
      for (int r = 0; r < 50; ++r) {
        for (Client& c : unix_fds) {
          const std::string msg = "unix payload " + std::to_string(r);
          std::string back;
          if (!c.SendAll(msg, deadline) || !c.RecvExactly(msg.size(), &back, deadline) ||
              back != "UNIX PAYLOAD " + std::to_string(r)) {
            ++failures;
          }
        }
      }
    });
    std::thread udp_thread([&] {
      for (int r = 0; r < 50; ++r) {
        for (Client& c : udp_fds) {
          const std::string msg = "udp datagram " + std::to_string(r);
          bool ok = false;
          if (::send(c.fd(), msg.data(), msg.size(), 0) != ssize_t(msg.size()) ||
              RecvDatagram(c.fd(), deadline, &ok) != msg || !ok) {
            ++failures;
          }
        }
      }
    });
    tcp_thread.join();
    unix_thread.join();
    udp_thread.join();
    CHECK(failures == 0);
    CHECK(engine.CountConnections() == 2 * kPerTransport);  // UDP views don't count
    CHECK(tcp.opens == kPerTransport);
    CHECK(unix_rec.opens == kPerTransport);
    CHECK(udp.opens == 0);
    // Round-robin: 8 stream connections per listener over 4 loops.
    CHECK(tcp.loops_seen == 0xFu);
    CHECK(unix_rec.loops_seen == 0xFu);
    CHECK(udp.loops_seen != 0u);
    tcp_fds.clear();
    unix_fds.clear();
    udp_fds.clear();
    CHECK(WaitFor([&] { return engine.CountConnections() == 0; }));
    engine.Stop();
    engine.Wait();
    CHECK_FALSE(Exists(dir.File("mix.sock")));
  }
  CHECK(WaitFor([&] { return CountOpenFds() == fds_before; }));
}

}  // namespace
}  // namespace actnet::transport
