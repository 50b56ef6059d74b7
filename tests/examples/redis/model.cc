#include "tests/examples/redis/model.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "examples/redis/commands.h"
#include "examples/redis/keyspace.h"
#include "tests/examples/redis/client.h"

namespace actnet::redis::testing {

Commands Workload(const std::string& prefix, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  auto key = [&] { return absl::StrCat(prefix, ":", rng() % 40); };
  auto some_keys = [&](size_t k, bool pairs) {
    std::vector<std::string> out;
    for (size_t i = 0; i < k; ++i) {
      out.push_back(key());
      if (pairs) out.push_back(absl::StrCat("v", rng() % 1000));
    }
    return out;
  };
  Commands c;
  while (c.size() < n) {
    std::vector<std::string> cmd;
    switch (rng() % 20) {
      case 0: cmd = {"SET", key(), absl::StrCat(rng() % 100)}; break;
      case 1: cmd = {"GET", key()}; break;
      case 2: cmd = {"INCR", key()}; break;
      case 3: cmd = {"APPEND", key(), "x"}; break;
      case 4: cmd = {"LPUSH", key(), "a", "b"}; break;
      case 5: cmd = {"RPOP", key()}; break;
      case 6: cmd = {"LRANGE", key(), "0", "-1"}; break;
      case 7: cmd = {"HSET", key(), "f", "1"}; break;
      case 8: cmd = {"HINCRBY", key(), "f", "2"}; break;
      case 9: cmd = {"SADD", key(), "m"}; break;
      case 10: cmd = {"SISMEMBER", key(), "m"}; break;
      case 11: cmd = {"MSET"}; break;
      case 12: cmd = {"MGET"}; break;
      case 13: cmd = {"DEL"}; break;
      case 14: cmd = {"EXISTS"}; break;
      case 15: cmd = {"PING"}; break;
      case 16: cmd = {"EXPIRE", key(), "1000"}; break;
      case 17: cmd = {"PERSIST", key()}; break;
      case 18: cmd = {"STRLEN", key()}; break;
      case 19: cmd = {"ECHO", absl::StrCat("e", c.size())}; break;
    }
    if (cmd.size() == 1 && cmd[0] != "PING") {
      const std::vector<std::string> more =
          some_keys(1 + rng() % 8, cmd[0] == "MSET");
      cmd.insert(cmd.end(), more.begin(), more.end());
    }
    c.push_back(std::move(cmd));
  }
  return c;
}

std::string ModelReplies(const Commands& commands) {
  Keyspace ks;
  std::string out;
  for (const auto& cmd : commands) {
    std::vector<absl::string_view> args(cmd.begin(), cmd.end());
    const CommandSpec* spec = LookupCommand(args[0]);
    if (spec == nullptr) {
      AppendUnknownCommand(Args(args), &out);
    } else if (CheckArity(*spec, Args(args), &out)) {
      spec->run(ks, Args(args), &out);
    }
  }
  return out;
}

std::string Encode(const Commands& commands) {
  std::string out;
  for (const auto& cmd : commands) out += Cmd(cmd);
  return out;
}

}  // namespace actnet::redis::testing
