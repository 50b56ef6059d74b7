// Stopping: under load, from another thread, by the destructor, and the echo
// example on SIGINT/SIGTERM. Each must finish within a bound (a hang check,
// not a performance assertion) and leave no fd behind.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

extern char** environ;

namespace actnet::integration {
namespace {

Clock::time_point Soon() { return Clock::now() + seconds(20); }

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST_CASE("Stop and Wait return promptly while 100 clients are mid-transfer") {
  const int fds_before = CountOpenFds();
  {
    const int kClients = static_cast<int>(Scaled(100, 20));
    Engine engine(Loops(4));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    const std::string url = FirstAddress(engine);

    std::atomic<int> connected{0};
    std::atomic<int> busy{0};  // clients that completed a round trip
    std::atomic<int> connect_failures{0};
    std::atomic<int> ended{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        Client client = Client::Connect(url);
        if (!client.valid()) {
          connect_failures.fetch_add(1);
          ended.fetch_add(1);
          return;
        }
        connected.fetch_add(1);
        std::mt19937_64 rng(static_cast<uint64_t>(c));
        bool counted = false;
        // Until the server goes away: EOF, a reset, or (only if the server
        // hangs) the deadline.
        const Clock::time_point deadline = Soon();
        for (;;) {
          const std::string chunk = RandomBytes(rng, 1 + rng() % 16384);
          if (!client.RoundTrip(chunk, deadline)) break;
          if (!counted) {
            counted = true;
            busy.fetch_add(1);
          }
        }
        ended.fetch_add(1);
      });
    }
    REQUIRE(WaitFor([&] { return busy.load() + connect_failures.load() == kClients; },
                    seconds(30)));
    CHECK(connect_failures.load() == 0);
    const Clock::time_point t0 = Clock::now();
    engine.Stop();
    const bool stopped = WaitWithin(engine, seconds(5));
    const double took = SecondsSince(t0);
    INFO("Stop + Wait took ", took, " s");
    CHECK(stopped);
    CHECK(took < 5.0);
    CHECK(engine.CountConnections() == 0);
    // Every client notices the server went away well before its deadline.
    CHECK(WaitFor([&] { return ended.load() == kClients; }, seconds(10)));
    for (std::thread& t : clients) t.join();
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("Stop from another thread stops an idle engine") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(Loops(2));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine.Start().ok());
    Client idle = Client::Connect(FirstAddress(engine));
    REQUIRE(idle.valid());
    REQUIRE(idle.RoundTrip("hi", Soon()));
    const Clock::time_point t0 = Clock::now();
    std::thread stopper([&] { engine.Stop(); });
    stopper.join();
    CHECK(WaitWithin(engine, seconds(5)));
    CHECK(SecondsSince(t0) < 5.0);
    std::string rest;
    CHECK(idle.RecvUntilEof(&rest, Soon()));
    CHECK(rest.empty());
  }
  CheckNoFdLeak(fds_before);
}

// Counts what it receives; its destruction is recorded too.
class Recorder : public Actor {
 public:
  Recorder(std::atomic<int>* received, std::atomic<bool>* destroyed)
      : received_(received), destroyed_(destroyed) {}
  ~Recorder() override { *destroyed_ = true; }
  void Receive(Envelope&) override { received_->fetch_add(1); }

 private:
  std::atomic<int>* received_;
  std::atomic<bool>* destroyed_;
};

TEST_CASE("what one loop sends a loop that has already stopped is handled by the time Wait returns") {
  EngineOptions options = Loops(2);
  options.cohost_loops = false;  // a thread each, so loop 1 can finish first
  Engine engine(options);
  std::atomic<int> received{0};
  std::atomic<bool> destroyed{false};
  const ActorRef actor = engine.Spawn(1, std::make_unique<Recorder>(&received, &destroyed));
  REQUIRE(engine.Start().ok());
  std::atomic<bool> loop1_stopped{false};
  std::atomic<bool> posted{false};
  std::atomic<int> ran_on{-1};
  REQUIRE(engine.Post(0, [&](EventLoop& loop) {
    loop.engine().Stop();
    // Held here until loop 1 (nothing open) has stopped.
    const Clock::time_point until = Clock::now() + seconds(10);
    while (!loop1_stopped && Clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
    posted = loop.engine()
                 .Post(1,
                       [&ran_on](EventLoop& there) {
                         ran_on = EventLoop::Current() == &there ? static_cast<int>(there.index())
                                                                 : -2;
                       })
                 .ok() &&
             loop.engine().Tell<int>(actor, 7).ok();
  }).ok());
  // A stopped loop refuses posts from other threads.
  const Clock::time_point until = Clock::now() + seconds(10);
  while (Clock::now() < until && engine.Post(1, [](EventLoop&) {}).ok()) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  loop1_stopped = true;
  engine.Wait();
  CHECK(posted.load());
  // The task runs on the stopped loop...
  CHECK(ran_on.load() == 1);
  // ...but the actor died with its loop: the message is a dead letter.
  CHECK(destroyed.load());
  CHECK(received.load() == 0);
  CHECK(engine.DeadLetters() == 1);
}

TEST_CASE("an engine destroyed without Stop stops and closes its connections") {
  const int fds_before = CountOpenFds();
  Client client;
  double took = 0;
  {
    auto engine = std::make_unique<Engine>(Loops(2));
    REQUIRE(engine->Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    REQUIRE(engine->Start().ok());
    client = Client::Connect(FirstAddress(*engine));
    REQUIRE(client.valid());
    REQUIRE(client.RoundTrip("before", Soon()));
    const Clock::time_point t0 = Clock::now();
    engine.reset();
    took = SecondsSince(t0);
  }
  CHECK(took < 5.0);
  std::string rest;
  CHECK(client.RecvUntilEof(&rest, Soon()));
  client.Close();
  CheckNoFdLeak(fds_before);
}

TEST_CASE("an engine that never started holds no fds") {
  const int fds_before = CountOpenFds();
  {
    Engine engine(Loops(2));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    engine.Stop();  // harmless before Start
    engine.Wait();  // returns at once
  }
  CheckNoFdLeak(fds_before);
}

// The echo example, started on port 0 in a child process.
class EchoProcess {
 public:
  EchoProcess() {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const char* workspace = std::getenv("TEST_WORKSPACE");
    REQUIRE(srcdir != nullptr);
    const std::string binary = std::string(srcdir) + "/" +
                               (workspace != nullptr ? workspace : "actnet") +
                               "/examples/echo/echo";
    REQUIRE_MESSAGE(::access(binary.c_str(), X_OK) == 0, binary);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    out_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::string a0 = binary;
    std::string a1 = "--addr=tcp://127.0.0.1:0";
    std::string a2 = "--loops=2";
    char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
    const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr,
                                 argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    REQUIRE(rc == 0);
  }
  ~EchoProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  // Reads stdout until a line containing "listening"; returns that line.
  std::string WaitListening(Clock::duration timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    std::string text;
    while (Clock::now() < deadline) {
      const size_t at = text.find("listening");
      if (at != std::string::npos) {
        const size_t eol = text.find('\n', at);
        if (eol != std::string::npos) {
          const size_t bol = text.rfind('\n', at);
          return text.substr(bol == std::string::npos ? 0 : bol + 1,
                             eol - (bol == std::string::npos ? 0 : bol + 1));
        }
      }
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[512];
        const ssize_t n = ::read(out_, buf, sizeof(buf));
        if (n <= 0) break;  // the child closed stdout (exited?)
        text.append(buf, static_cast<size_t>(n));
      }
    }
    return "";
  }

  // Sends `sig` and waits for the exit; the wait status, or -1 on timeout.
  int SignalAndWait(int sig, Clock::duration timeout) {
    ::kill(pid_, sig);
    int status = 0;
    const bool reaped = WaitFor(
        [&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!reaped) return -1;
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

void CheckEchoExampleExitsOn(int sig) {
  const int fds_before = CountOpenFds();
  {
    EchoProcess echo;
    const std::string line = echo.WaitListening(seconds(20));
    INFO("listening line: ", line);
    REQUIRE(line.find("listening") != std::string::npos);
    const size_t at = line.find("tcp://");
    REQUIRE(at != std::string::npos);
    const std::string url = line.substr(at, line.find(' ', at) - at);
    {
      Client client = Client::Connect(url);
      REQUIRE(client.valid());
      CHECK(client.RoundTrip("hello, echo", Soon()));
    }
    // Sanitized binaries take longer to tear down (leak checking at exit).
    const Clock::duration bound = kSanitized ? seconds(10) : seconds(2);
    const int status = echo.SignalAndWait(sig, bound);
    CHECK(status != -1);  // exited within the bound
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CheckNoFdLeak(fds_before);
}

TEST_CASE("the echo example exits 0 soon after SIGINT") {
  CheckEchoExampleExitsOn(SIGINT);
}

TEST_CASE("the echo example exits 0 soon after SIGTERM") {
  CheckEchoExampleExitsOn(SIGTERM);
}

}  // namespace
}  // namespace actnet::integration
