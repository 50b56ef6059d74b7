// bazel-bin/examples/chat/chat as a real server with real socket clients:
// fan-out across loops in per-sender order, a client that never reads is
// dropped while the others keep receiving, and the line-length limit.
// Every test ends with SIGTERM and exit status 0.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "doctest/doctest.h"
#include "tests/examples/http/server_process.h"

namespace actnet::testing {
namespace {

class ChatServer {
 public:
  explicit ChatServer(int loops, std::vector<std::string> flags = {}) {
    flags.push_back("--addr=tcp://127.0.0.1:0");
    flags.push_back(absl::StrCat("--loops=", loops));
    process_ = ServerProcess::Start(Runfile("examples/chat/chat"), flags);
    REQUIRE_MESSAGE(process_ != nullptr, "the server did not say it was listening");
  }
  ~ChatServer() { CHECK(process_->Terminate() == 0); }
  int port() const { return process_->port(); }

 private:
  std::unique_ptr<ServerProcess> process_;
};

size_t CountLines(absl::string_view s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

Clock::time_point Soon() { return After(std::chrono::seconds(30)); }

// A client that has joined: its name from the welcome line, which the
// room writes after the join, so every line sent later reaches it.
struct Member {
  testutil::Client sock;
  std::string name;
  std::string in;  // received after the welcome
};
Member Join(int port, int rcvbuf = 0) {
  Member c;
  c.sock = testutil::Client::Connect(port, Soon(), nullptr, rcvbuf);
  REQUIRE(c.sock.valid());
  REQUIRE(c.sock.RecvUntil([](absl::string_view s) { return CountLines(s) >= 1; }, &c.in,
                           Soon()));
  constexpr absl::string_view kWelcome = "* welcome, you are ";
  REQUIRE(absl::StartsWith(c.in, kWelcome));
  const size_t eol = c.in.find('\n');
  c.name = c.in.substr(kWelcome.size(), eol - kWelcome.size());
  c.in.erase(0, eol + 1);
  return c;
}

TEST_SUITE("examples/chat binary") {
  TEST_CASE("50 clients on 4 loops each get the 49 x 20 lines of the others, in order") {
    constexpr int kClients = 50;
    constexpr int kLines = 20;
    ChatServer server(4);
    std::vector<Member> clients;
    std::map<std::string, int> index_of;  // name -> client
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(Join(server.port()));
      index_of[clients.back().name] = i;
    }
    REQUIRE(index_of.size() == kClients);
    for (int seq = 0; seq < kLines; ++seq) {
      for (int i = 0; i < kClients; ++i) {
        REQUIRE(clients[i].sock.SendAll(absl::StrCat("client ", i, " line ", seq, "\r\n"), Soon()));
      }
    }
    constexpr size_t kExpected = (kClients - 1) * kLines;
    for (int i = 0; i < kClients; ++i) {
      CAPTURE(i);
      Member& c = clients[i];
      CHECK(c.sock.RecvUntil([](absl::string_view s) { return CountLines(s) >= kExpected; },
                             &c.in, Soon()));
      std::vector<int> next(kClients, 0);  // the sequence number due from each sender
      size_t lines = 0;
      for (absl::string_view line : absl::StrSplit(c.in, '\n', absl::SkipEmpty())) {
        ++lines;
        // "guest7: client 3 line 12"
        std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
        REQUIRE(f.size() == 5);
        int sender = -1, seq = -1;
        REQUIRE(absl::SimpleAtoi(f[2], &sender));
        REQUIRE(absl::SimpleAtoi(f[4], &seq));
        REQUIRE(sender >= 0);
        REQUIRE(sender < kClients);
        CHECK(sender != i);
        CHECK(f[0] == absl::StrCat(clients[sender].name, ":"));
        CHECK(seq == next[sender]);
        next[sender] = seq + 1;
      }
      CHECK(lines == kExpected);
      for (int s = 0; s < kClients; ++s) CHECK(next[s] == (s == i ? 0 : kLines));
    }
    for (Member& c : clients) c.sock.Close();
  }

  TEST_CASE("a client that never reads is disconnected; the others keep receiving") {
    ChatServer server(2, {"--max_outbound=1048576"});
    // A fixed small receive buffer: the kernel cannot soak up the flood.
    Member slow = Join(server.port(), /*rcvbuf=*/4096);
    Member reader = Join(server.port());
    Member sender = Join(server.port());

    // The sender waits for the reader after each window of 512 KB (below
    // the limit), so only the client that does not read falls behind.
    constexpr int kLines = 2000;
    constexpr int kWindow = 64;
    const std::string filler(8000, 'x');
    size_t counted = 0, lines = 0;  // of reader.in, counted as bytes arrive
    for (int sent = 0; sent < kLines;) {
      std::string batch;
      for (int end = std::min(sent + kWindow, kLines); sent < end; ++sent) {
        absl::StrAppend(&batch, sent, " ", filler, "\n");
      }
      REQUIRE(sender.sock.SendAll(batch, Soon()));
      REQUIRE(reader.sock.RecvUntil(
          [&](absl::string_view s) {
            lines += CountLines(s.substr(counted));
            counted = s.size();
            return lines >= static_cast<size_t>(sent);
          },
          &reader.in, Soon()));
    }
    int expected = 0;
    for (absl::string_view line : absl::StrSplit(reader.in, '\n', absl::SkipEmpty())) {
      CHECK(line == absl::StrCat(sender.name, ": ", expected, " ", filler));
      ++expected;
    }
    CHECK(expected == kLines);

    // The slow client finds its connection closed, long before the end.
    std::string got;
    CHECK(ReadToEnd(slow.sock, &got, std::chrono::seconds(60)));
    MESSAGE("the slow client got ", got.size(), " of ", size_t{kLines} * 8000, " bytes");
    CHECK(got.size() < size_t{kLines} * 8000 / 2);
    for (Member* c : {&slow, &reader, &sender}) c->sock.Close();
  }

  TEST_CASE("a line over the limit gets an error line and a close") {
    ChatServer server(2, {"--max_line=1024"});
    Member listener = Join(server.port());
    for (bool newline : {false, true}) {
      CAPTURE(newline);
      Member talker = Join(server.port());
      REQUIRE(talker.sock.SendAll("short\n", Soon()));
      REQUIRE(talker.sock.SendAll(std::string(2000, 'y') + (newline ? "\n" : ""), Soon()));
      std::string got;
      CHECK(ReadToEnd(talker.sock, &got, std::chrono::seconds(30)));
      CHECK(got == "* error: line longer than 1024 bytes\n");
      talker.sock.Close();
      const std::string expected = absl::StrCat(talker.name, ": short\n");
      CHECK(listener.sock.RecvUntil(
          [&](absl::string_view s) { return s.size() >= expected.size(); }, &listener.in,
          Soon()));
      CHECK(listener.in == expected);
      listener.in.clear();
    }
    listener.sock.Close();
  }
}

}  // namespace
}  // namespace actnet::testing
