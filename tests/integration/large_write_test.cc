// A handler's large Write (StreamConn::kSendAtOnce, 64 KiB, and more) goes
// out at once from the caller's bytes with what was written before it;
// only what the socket refuses is copied. The contract a handler sees must
// not change: the bytes arrive whole and in order around small writes, the
// caller may reuse its buffer as soon as Write returns, and a slow reader
// still gets everything. Runs on the backend ACTNET_BACKEND picks
// (tools/test.sh runs it on epoll and on io_uring).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <sys/socket.h>

#include <random>
#include <string>

#include "actnet.h"
#include "doctest/doctest.h"
#include "tests/integration/testing.h"

namespace actnet::integration {
namespace {

constexpr size_t kBig = 3 * 1024 * 1024 + 17;

std::string Pattern(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// On "go": writes a small head, the big body from a buffer it overwrites
// as soon as Write returns, and a small tail, then closes after flushing.
class BigWriter : public Handler {
 public:
  explicit BigWriter(const std::string* body) : body_(body) {}
  Action OnData(Conn& conn) override {
    conn.Next();
    scratch_ = *body_;
    conn.Write("head:");
    conn.Write(scratch_);
    scratch_.assign(scratch_.size(), 'X');  // the caller's buffer, reused
    conn.Write(":tail");
    return Action::kClose;
  }

 private:
  const std::string* body_;
  std::string scratch_;
};

void Fetch(size_t receive_buffer) {
  const std::string body = Pattern(kBig, receive_buffer + 1);
  Engine engine(Loops(1));
  REQUIRE(engine.Listen("tcp://127.0.0.1:0", [&body] {
                  return std::make_unique<BigWriter>(&body);
                }).ok());
  REQUIRE(engine.Start().ok());
  Client c = Client::Connect(FirstAddress(engine));
  REQUIRE(c.valid());
  if (receive_buffer != 0) {
    const int size = static_cast<int>(receive_buffer);
    REQUIRE(setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0);
  }
  REQUIRE(c.SendAll("go", Clock::now() + seconds(10)));
  std::string got;
  CHECK(c.RecvUntilEof(&got, Clock::now() + seconds(30)));
  const std::string want = "head:" + body + ":tail";
  CHECK(got.size() == want.size());
  CHECK(got == want);
  engine.Stop();
  CHECK(WaitWithin(engine, seconds(10)));
}

TEST_SUITE("large writes") {
  TEST_CASE(
      "a 3 MiB Write between two small ones arrives whole and in order, and "
      "the handler may overwrite its buffer once Write returns") {
    Fetch(0);
  }

  TEST_CASE(
      "the same to a reader with a 16 KiB receive buffer: the socket takes "
      "part, the rest is queued and follows") {
    Fetch(16 * 1024);
  }
}

}  // namespace
}  // namespace actnet::integration
