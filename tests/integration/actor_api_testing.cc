#include "tests/integration/actor_api_testing.h"

#include <algorithm>
#include <exception>

namespace actnet::integration {

FdLeakCheck::~FdLeakCheck() {
  if (std::uncaught_exceptions() == 0) CheckNoFdLeak(before_);
}

RunningEngine::RunningEngine(EngineOptions options)
    : Engine(std::move(options)) {
  REQUIRE(Start().ok());
}

RunningEngine::RunningEngine(ConnLog* log, HandlerFactory factory,
                             EngineOptions options)
    : Engine(std::move(options)), log_(log) {
  REQUIRE(Listen("tcp://127.0.0.1:0", std::move(factory)).ok());
  REQUIRE(Start().ok());
}

RunningEngine::~RunningEngine() {
  Stop();
  CHECK(WaitWithin(*this, seconds(10)));
}

void RunningEngine::StopAndWait() {
  Stop();
  REQUIRE(WaitWithin(*this, seconds(10)));
}

std::pair<Client, ActorRef> RunningEngine::ConnectClient() {
  REQUIRE(log_ != nullptr);
  const int before = log_->opens();
  Client client = Client::Connect(FirstAddress(*this));
  REQUIRE(client.valid());
  REQUIRE(log_->WaitOpens(before + 1));
  return {std::move(client), log_->opened_refs().back()};
}

std::vector<Client> RunningEngine::ConnectClients(int n) {
  std::vector<Client> clients;
  for (int i = 0; i < n; ++i) clients.push_back(ConnectClient().first);
  return clients;
}

bool ReadExpected(Client& client, const std::string& want) {
  std::string got;
  const bool ok =
      client.RecvExactly(want.size(), &got, testing::After(seconds(10)));
  INFO("got: ", got);
  CHECK(got == want);
  return ok && got == want;
}

std::optional<std::string> TakeLine(Conn& conn) {
  const absl::string_view in = conn.Peek();
  const size_t eol = in.find('\n');
  if (eol == absl::string_view::npos) return std::nullopt;
  std::string line(in.substr(0, eol));
  conn.Discard(eol + 1);
  return line;
}

Action LoggedEcho::OnData(Conn& conn) {
  conn.Write(conn.Next());
  return Action::kNone;
}

void Events::Add(std::string event) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(event));
}

std::vector<std::string> Events::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

size_t Events::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

int Events::Count(const std::string& event) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count(events_.begin(), events_.end(), event));
}

bool Events::WaitSize(size_t n, Clock::duration timeout) const {
  return WaitFor([this, n] { return size() >= n; }, Slack(timeout));
}

void Fence(Engine& engine, uint32_t from, uint32_t to) {
  auto reached = std::make_shared<Slot<bool>>();
  // No doctest assertion on a loop thread: a failed REQUIRE there would
  // throw out of the loop.
  const bool posted = OnLoop(engine, from, [reached, to](EventLoop& l) {
    return l.engine()
        .Post(to, [reached](EventLoop&) { reached->Set(true); })
        .ok();
  });
  REQUIRE(posted);
  REQUIRE(reached->Wait().has_value());
}

std::shared_ptr<Slot<Closed>> CloseAsync(Engine& engine, const ActorRef& ref) {
  auto out = std::make_shared<Slot<Closed>>();
  REQUIRE(engine
              .Close(ref,
                     [out](absl::Status s) {
                       out->Set(Closed{std::move(s), CurrentLoop()});
                     })
              .ok());
  return out;
}

Closed CloseAndWait(Engine& engine, const ActorRef& ref) {
  std::optional<Closed> r = CloseAsync(engine, ref)->Wait();
  REQUIRE(r.has_value());
  return *r;
}

EngineOptions SeparateLoops(int n) {
  EngineOptions o = Loops(n);
  o.cohost_loops = false;
  return o;
}

std::string StatusName(const absl::Status& s) {
  return std::string(absl::StatusCodeToString(s.code()));
}

}  // namespace actnet::integration
