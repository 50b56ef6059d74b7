#include "balance/balancer.h"

#include "absl/strings/str_cat.h"
#include "balance/least_connections.h"
#include "balance/round_robin.h"
#include "balance/source_hash.h"

namespace actnet::balance {
namespace {

// Puts a concrete strategy behind the Balancer interface.
template <typename Impl>
class BalancerOf final : public Balancer {
 public:
  size_t Pick(const sockaddr* peer, socklen_t peer_len,
              absl::Span<const std::atomic<int64_t>> loads) override {
    return impl_.Pick(peer, peer_len, loads);
  }

 private:
  Impl impl_;
};

constexpr Strategy kAll[] = {Strategy::kRoundRobin,
                             Strategy::kLeastConnections,
                             Strategy::kSourceHash};

}  // namespace

absl::string_view StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kRoundRobin:
      return "round_robin";
    case Strategy::kLeastConnections:
      return "least_conn";
    case Strategy::kSourceHash:
      return "source_hash";
  }
  return "unknown";
}

absl::StatusOr<Strategy> ParseStrategy(absl::string_view name) {
  for (Strategy s : kAll) {
    if (name == StrategyName(s)) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown balancer strategy \"", name,
                   "\" (valid: round_robin, least_conn, source_hash)"));
}

std::unique_ptr<Balancer> MakeBalancer(Strategy s) {
  switch (s) {
    case Strategy::kLeastConnections:
      return std::make_unique<BalancerOf<LeastConnections>>();
    case Strategy::kSourceHash:
      return std::make_unique<BalancerOf<SourceHash>>();
    case Strategy::kRoundRobin:
      break;
  }
  return std::make_unique<BalancerOf<RoundRobin>>();
}

}  // namespace actnet::balance
