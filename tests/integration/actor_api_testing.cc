#include "tests/integration/actor_api_testing.h"

#include <algorithm>

namespace actnet::integration {

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
