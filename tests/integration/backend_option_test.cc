// EngineOptions::backend picks the kernel interface the loops run on, and
// the environment variable ACTNET_BACKEND overrides it at Start(). What
// runs is checked from outside the engine: a loop on io_uring holds an
// io_uring instance (an "anon_inode:[io_uring]" fd), one on epoll none.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "actnet.h"
#include "doctest/doctest.h"
#include "io/uring_probe.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

// Sets (or unsets, with nullopt) ACTNET_BACKEND for its lifetime: the suite
// itself may run under ACTNET_BACKEND=io_uring (tools/test.sh).
class BackendEnv {
 public:
  explicit BackendEnv(std::optional<std::string> value) {
    if (const char* old = getenv("ACTNET_BACKEND")) saved_ = old;
    if (value) {
      setenv("ACTNET_BACKEND", value->c_str(), 1);
    } else {
      unsetenv("ACTNET_BACKEND");
    }
  }
  ~BackendEnv() {
    if (saved_) {
      setenv("ACTNET_BACKEND", saved_->c_str(), 1);
    } else {
      unsetenv("ACTNET_BACKEND");
    }
  }

 private:
  std::optional<std::string> saved_;
};

int IoUringFds() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (dirent* d = readdir(dir)) {
    char target[256] = {};
    const std::string path = std::string("/proc/self/fd/") + d->d_name;
    const ssize_t len = readlink(path.c_str(), target, sizeof(target) - 1);
    if (len > 0 && std::string(target, static_cast<size_t>(len)) ==
                       "anon_inode:[io_uring]") {
      ++n;
    }
  }
  closedir(dir);
  return n;
}

bool UringAvailable() {
  const absl::Status s = io::ProbeIoUring();
  if (!s.ok()) MESSAGE("io_uring cases skipped: ", s.ToString());
  return s.ok();
}

// Starts an echo engine with `backend`, checks what runs, serves a round
// trip and stops.
void ServeOn(IoBackend backend, IoBackend expected) {
  EngineOptions options = Loops(1);
  options.backend = backend;
  Engine engine(options);
  REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
  const int before = IoUringFds();
  REQUIRE(engine.Start().ok());
  CHECK(engine.options().backend == expected);
  if (expected == IoBackend::kIoUring) {
    CHECK(IoUringFds() > before);
  } else {
    CHECK(IoUringFds() == before);
  }
  Client c = Client::Connect(FirstAddress(engine));
  REQUIRE(c.valid());
  CHECK(c.RoundTrip("on this backend", Clock::now() + seconds(20)));
  c.Close();
  engine.Stop();
  CHECK(WaitWithin(engine, seconds(10)));
}

TEST_SUITE("Engine backend") {
  TEST_CASE("backend names parse and print; anything else is refused with the choices") {
    for (IoBackend b : {IoBackend::kEpoll, IoBackend::kIoUring, IoBackend::kAuto}) {
      IoBackend parsed = IoBackend::kEpoll;
      std::string error;
      CHECK(AbslParseFlag(AbslUnparseFlag(b), &parsed, &error));
      CHECK(parsed == b);
    }
    IoBackend parsed = IoBackend::kAuto;
    std::string error;
    CHECK_FALSE(AbslParseFlag("kqueue", &parsed, &error));
    CHECK(error == "expected epoll, io_uring or auto");
    CHECK(parsed == IoBackend::kAuto);
  }

  TEST_CASE("kEpoll runs on epoll and kIoUring on io_uring, each serving") {
    BackendEnv env(std::nullopt);
    ServeOn(IoBackend::kEpoll, IoBackend::kEpoll);
    if (UringAvailable()) ServeOn(IoBackend::kIoUring, IoBackend::kIoUring);
  }

  TEST_CASE("kAuto runs io_uring where the kernel allows it, else epoll") {
    BackendEnv env(std::nullopt);
    ServeOn(IoBackend::kAuto,
            io::ProbeIoUring().ok() ? IoBackend::kIoUring : IoBackend::kEpoll);
  }

  TEST_CASE("ACTNET_BACKEND overrides the option") {
    {
      BackendEnv env(std::string("epoll"));
      if (UringAvailable()) ServeOn(IoBackend::kIoUring, IoBackend::kEpoll);
    }
    if (UringAvailable()) {
      BackendEnv env(std::string("io_uring"));
      ServeOn(IoBackend::kEpoll, IoBackend::kIoUring);
    }
  }

  TEST_CASE(
      "io_uring receive buffers: 16 KiB ones echo 256 KiB whole; a count that "
      "is not a power of two fails Start with InvalidArgument") {
    BackendEnv env(std::nullopt);
    if (!UringAvailable()) return;
    {
      EngineOptions options = Loops(1);
      options.backend = IoBackend::kIoUring;
      options.uring_buffer_size = 16 * 1024;
      options.uring_buffer_count = 64;
      Engine engine(options);
      REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
      REQUIRE(engine.Start().ok());
      Client c = Client::Connect(FirstAddress(engine));
      REQUIRE(c.valid());
      std::string big(256 * 1024, '\0');
      for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
      CHECK(c.RoundTrip(big, Clock::now() + seconds(20)));
      c.Close();
      engine.Stop();
      CHECK(WaitWithin(engine, seconds(10)));
    }
    EngineOptions options = Loops(1);
    options.backend = IoBackend::kIoUring;
    options.uring_buffer_count = 100;
    Engine engine(options);
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    const absl::Status s = engine.Start();
    CHECK(absl::IsInvalidArgument(s));
    CHECK(s.message().find("buffer_count must be a power of two") !=
          absl::string_view::npos);
  }

  TEST_CASE("a bad ACTNET_BACKEND fails Start with InvalidArgument naming it") {
    BackendEnv env(std::string("kqueue"));
    Engine engine(Loops(1));
    REQUIRE(engine.Listen<EchoHandler>("tcp://127.0.0.1:0").ok());
    const absl::Status s = engine.Start();
    CHECK(absl::IsInvalidArgument(s));
    CHECK(s.message().find("ACTNET_BACKEND=kqueue") != absl::string_view::npos);
  }
}

}  // namespace
}  // namespace actnet::integration
