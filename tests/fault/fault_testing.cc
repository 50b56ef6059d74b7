#include "tests/fault/fault_testing.h"

#include <thread>
#include <utility>
#include <vector>

#include "doctest/doctest.h"

namespace actnet::fault {

std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = PatternByte(i);
  return out;
}

absl::string_view PatternView(size_t n) {
  static const std::string* const all = new std::string(Pattern(kMaxPatternView));
  return absl::string_view(*all).substr(0, n);
}

// ---------------------------------------------------------------------------
// Lifecycle

void Lifecycle::Opened() {
  std::lock_guard<std::mutex> lock(mu_);
  ++opens_;
}

void Lifecycle::Closed(const CloseReason& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++closes_;
    ++by_kind_[reason.kind];
  }
  cv_.notify_all();
}

int Lifecycle::opens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opens_;
}

int Lifecycle::closes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closes_;
}

int Lifecycle::closes(CloseReason::Kind kind) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_kind_.find(kind);
  return it == by_kind_.end() ? 0 : it->second;
}

std::string Lifecycle::Summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s = "opens=" + std::to_string(opens_) +
                  " closes=" + std::to_string(closes_);
  for (const auto& [kind, n] : by_kind_) {
    s += " " + CloseReason{kind, 0}.ToString() + "=" + std::to_string(n);
  }
  return s;
}

bool Lifecycle::WaitCloses(int n, Clock::duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return closes_ >= n; });
}

Action LineEchoHandler::OnData(Conn& conn) {
  for (;;) {
    const absl::string_view in = conn.Peek();
    const size_t eol = in.find('\n');
    if (eol == absl::string_view::npos) return Action::kNone;
    conn.Write(in.substr(0, eol + 1));
    conn.Discard(eol + 1);
  }
}

// ---------------------------------------------------------------------------
// Server

Server StartServer(const EngineOptions& options, HandlerFactory factory) {
  Server s;
  s.engine = std::make_unique<Engine>(options);
  REQUIRE(s.engine->Listen("tcp://127.0.0.1:0", std::move(factory)).ok());
  REQUIRE(s.engine->Start().ok());
  const std::vector<std::string> addrs = s.engine->ListenAddresses();
  REQUIRE(!addrs.empty());
  const size_t colon = addrs.front().rfind(':');
  REQUIRE(colon != std::string::npos);
  s.port = std::stoi(addrs.front().substr(colon + 1));
  return s;
}

bool WaitStopped(Engine& engine, Clock::duration timeout) {
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    engine.Wait();
    returned.store(true);
  });
  const bool in_time = WaitFor([&] { return returned.load(); }, timeout);
  if (!in_time) engine.Stop();
  waiter.join();
  return in_time;
}

}  // namespace actnet::fault
