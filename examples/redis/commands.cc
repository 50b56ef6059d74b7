// The command table, lookup and arity checks, and the string and key-space
// commands. Collections are in commands_collections.cc, server commands in
// commands_server.cc.
#include "examples/redis/commands.h"

#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "examples/redis/resp.h"

namespace actnet::redis {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinInt = std::numeric_limits<int64_t>::min();
constexpr size_t kMaxStringSize = size_t{512} << 20;  // Redis's default

bool Is(absl::string_view arg, absl::string_view lower_word) {
  return absl::EqualsIgnoreCase(arg, lower_word);
}

void Get(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const std::string* s = ks.FindAs<std::string>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (s == nullptr) return AppendNil(out);
  AppendBulk(out, *s);
}

// Converts an expiry argument to an absolute time; false (with the reply
// written) if it is not a valid expiry.
bool ExpireAt(Keyspace& ks, absl::string_view arg, bool seconds,
              absl::string_view command, bool positive, int64_t* at,
              std::string* out) {
  int64_t v;
  if (!ParseRedisInt(arg, &v)) {
    AppendError(out, kErrNotInteger);
    return false;
  }
  const std::string invalid =
      absl::StrCat("ERR invalid expire time in '", command, "' command");
  if ((positive && v <= 0) ||
      (seconds && (v > kMaxInt / 1000 || v < kMinInt / 1000))) {
    AppendError(out, invalid);
    return false;
  }
  if (seconds) v *= 1000;
  const int64_t now = ks.now_ms();
  if ((v > 0 && v > kMaxInt - now) || (v < 0 && v < kMinInt + now)) {
    AppendError(out, invalid);
    return false;
  }
  *at = now + v;
  return true;
}

void Set(Keyspace& ks, Args a, std::string* out) {
  bool nx = false, xx = false, get = false, keep_ttl = false;
  int expiry_arg = 0;  // index of the EX/PX value
  bool seconds = false;
  for (size_t i = 3; i < a.size(); ++i) {
    absl::string_view o = a[i];
    if (Is(o, "nx") && !xx) {
      nx = true;
    } else if (Is(o, "xx") && !nx) {
      xx = true;
    } else if (Is(o, "get")) {
      get = true;
    } else if (Is(o, "keepttl") && expiry_arg == 0) {
      keep_ttl = true;
    } else if ((Is(o, "ex") || Is(o, "px")) &&
               !keep_ttl && expiry_arg == 0 && i + 1 < a.size()) {
      seconds = Is(o, "ex");
      expiry_arg = static_cast<int>(++i);
    } else {
      return AppendError(out, kErrSyntax);
    }
  }
  int64_t at = 0;
  if (expiry_arg != 0 &&
      !ExpireAt(ks, a[static_cast<size_t>(expiry_arg)], seconds, "set",
                /*positive=*/true, &at, out)) {
    return;
  }
  bool wrong = false;
  const std::string* old = get ? ks.FindAs<std::string>(a[1], &wrong)
                               : nullptr;
  if (wrong) return AppendError(out, kErrWrongType);
  const bool exists = get ? old != nullptr : ks.Find(a[1]) != nullptr;
  std::string previous;
  if (old != nullptr) previous = *old;
  if ((nx && exists) || (xx && !exists)) {
    if (get && exists) return AppendBulk(out, previous);
    return AppendNil(out);
  }
  ks.SetString(a[1], a[2], keep_ttl);
  if (at != 0) ks.SetExpire(a[1], at);
  if (!get) return AppendSimple(out, "OK");
  if (exists) return AppendBulk(out, previous);
  AppendNil(out);
}

void GetSet(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  std::string* s = ks.FindAs<std::string>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (s == nullptr) {
    AppendNil(out);
  } else {
    AppendBulk(out, *s);
  }
  ks.SetString(a[1], a[2]);
}

void IncrBy(Keyspace& ks, absl::string_view key, int64_t by,
            std::string* out) {
  bool wrong;
  std::string* s = ks.FindAs<std::string>(key, &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  int64_t v = 0;
  if (s != nullptr && !ParseRedisInt(*s, &v)) {
    return AppendError(out, kErrNotInteger);
  }
  if ((by < 0 && v < kMinInt - by) || (by > 0 && v > kMaxInt - by)) {
    return AppendError(out, kErrOverflow);
  }
  v += by;
  if (s != nullptr) {
    *s = absl::StrCat(v);  // keeps the key's expiry, as Redis does
  } else {
    ks.SetString(key, absl::StrCat(v));
  }
  AppendInt(out, v);
}

void Incr(Keyspace& ks, Args a, std::string* out) { IncrBy(ks, a[1], 1, out); }
void Decr(Keyspace& ks, Args a, std::string* out) { IncrBy(ks, a[1], -1, out); }
void IncrByCmd(Keyspace& ks, Args a, std::string* out) {
  int64_t by;
  if (!ParseRedisInt(a[2], &by)) return AppendError(out, kErrNotInteger);
  IncrBy(ks, a[1], by, out);
}
void DecrByCmd(Keyspace& ks, Args a, std::string* out) {
  int64_t by;
  if (!ParseRedisInt(a[2], &by)) return AppendError(out, kErrNotInteger);
  if (by == kMinInt) return AppendError(out, "ERR decrement would overflow");
  IncrBy(ks, a[1], -by, out);
}

void Append(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  std::string* s = ks.FindAs<std::string>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (s == nullptr) {
    ks.SetString(a[1], a[2]);
    return AppendInt(out, static_cast<int64_t>(a[2].size()));
  }
  if (s->size() + a[2].size() > kMaxStringSize) {
    return AppendError(
        out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  s->append(a[2].data(), a[2].size());
  AppendInt(out, static_cast<int64_t>(s->size()));
}

void Strlen(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const std::string* s = ks.FindAs<std::string>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  AppendInt(out, s == nullptr ? 0 : static_cast<int64_t>(s->size()));
}

void Del(Keyspace& ks, Args a, std::string* out) {
  int64_t n = 0;
  for (size_t i = 1; i < a.size(); ++i) n += ks.Erase(a[i]) ? 1 : 0;
  AppendInt(out, n);
}

void Exists(Keyspace& ks, Args a, std::string* out) {
  int64_t n = 0;
  for (size_t i = 1; i < a.size(); ++i) n += ks.Find(a[i]) != nullptr ? 1 : 0;
  AppendInt(out, n);
}

// MGET's elements without the array header: one shard's share.
void MgetElements(Keyspace& ks, Args a, std::string* out) {
  for (size_t i = 1; i < a.size(); ++i) {
    bool wrong;
    const std::string* s = ks.FindAs<std::string>(a[i], &wrong);
    if (s == nullptr) {
      AppendNil(out);  // absent or not a string: nil, as in Redis
    } else {
      AppendBulk(out, *s);
    }
  }
}

void Mget(Keyspace& ks, Args a, std::string* out) {
  AppendArray(out, static_cast<int64_t>(a.size() - 1));
  MgetElements(ks, a, out);
}

void Mset(Keyspace& ks, Args a, std::string* out) {
  for (size_t i = 1; i + 1 < a.size(); i += 2) ks.SetString(a[i], a[i + 1]);
  AppendSimple(out, "OK");
}

void ExpireGeneric(Keyspace& ks, Args a, std::string* out, bool seconds,
                   absl::string_view command) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < a.size(); ++i) {
    if (Is(a[i], "nx")) {
      nx = true;
    } else if (Is(a[i], "xx")) {
      xx = true;
    } else if (Is(a[i], "gt")) {
      gt = true;
    } else if (Is(a[i], "lt")) {
      lt = true;
    } else {
      return AppendError(out, absl::StrCat("ERR Unsupported option ", a[i]));
    }
  }
  if (nx && (xx || gt || lt)) {
    return AppendError(
        out, "ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) {
    return AppendError(
        out, "ERR GT and LT options at the same time are not compatible");
  }
  int64_t at;
  if (!ExpireAt(ks, a[2], seconds, command, /*positive=*/false, &at, out)) {
    return;
  }
  Keyspace::Entry* e = ks.Find(a[1]);
  if (e == nullptr) return AppendInt(out, 0);
  const int64_t current = e->expire_at_ms;  // 0: persistent (infinite)
  if ((nx && current != 0) || (xx && current == 0) ||
      (gt && (current == 0 || at <= current)) ||
      (lt && current != 0 && at >= current)) {
    return AppendInt(out, 0);
  }
  if (at <= ks.now_ms()) {
    ks.Erase(a[1]);
  } else {
    ks.SetExpire(a[1], at);
  }
  AppendInt(out, 1);
}

void Expire(Keyspace& ks, Args a, std::string* out) {
  ExpireGeneric(ks, a, out, true, "expire");
}
void Pexpire(Keyspace& ks, Args a, std::string* out) {
  ExpireGeneric(ks, a, out, false, "pexpire");
}

void TtlGeneric(Keyspace& ks, Args a, std::string* out, bool ms) {
  const Keyspace::Entry* e = ks.Find(a[1]);
  if (e == nullptr) return AppendInt(out, -2);
  if (e->expire_at_ms == 0) return AppendInt(out, -1);
  const int64_t left = e->expire_at_ms - ks.now_ms();
  AppendInt(out, ms ? left : (left + 500) / 1000);
}
void Ttl(Keyspace& ks, Args a, std::string* out) { TtlGeneric(ks, a, out, false); }
void Pttl(Keyspace& ks, Args a, std::string* out) { TtlGeneric(ks, a, out, true); }

void Persist(Keyspace& ks, Args a, std::string* out) {
  AppendInt(out, ks.Persist(a[1]) ? 1 : 0);
}

void Dbsize(Keyspace& ks, Args a, std::string* out) {
  AppendInt(out, static_cast<int64_t>(ks.size()));
}

void Flushall(Keyspace& ks, Args a, std::string* out) {
  if (a.size() > 2 ||
      (a.size() == 2 && !Is(a[1], "async") &&
       !Is(a[1], "sync"))) {
    return AppendError(out, kErrSyntax);
  }
  ks.Clear();
  AppendSimple(out, "OK");
}

using internal::Hdel;
using internal::Hget;
using internal::Hgetall;
using internal::Hincrby;
using internal::Hlen;
using internal::Hset;
using internal::Lpop;
using internal::Lpush;
using internal::Llen;
using internal::Lrange;
using internal::Rpop;
using internal::Rpush;
using internal::Sadd;
using internal::Scard;
using internal::Sismember;
using internal::Smembers;
using internal::Spop;
using internal::Srem;

std::vector<CommandSpec> MakeTable() {
  using R = Route;
  using M = Merge;
  using internal::Command;
  using internal::Config;
  using internal::Echo;
  using internal::InfoWithoutServer;
  using internal::Ping;
  using internal::Quit;
  using internal::Select;
  return {
      {"ping", -1, R::kLocal, M::kNone, Ping, nullptr, "fast", 0, 0, 0},
      {"echo", 2, R::kLocal, M::kNone, Echo, nullptr, "fast", 0, 0, 0},
      {"select", 2, R::kLocal, M::kNone, Select, nullptr, "loading stale fast", 0, 0, 0},
      {"quit", -1, R::kLocal, M::kNone, Quit, nullptr, "allow_busy", 0, 0, 0},
      {"config", -2, R::kLocal, M::kNone, Config, nullptr, "admin", 0, 0, 0},
      {"command", -1, R::kLocal, M::kNone, Command, nullptr, "loading stale", 0, 0, 0},
      // The session answers INFO itself (it has the engine and its loops'
      // counters); InfoWithoutServer is what a bare keyspace can say.
      {"info", -1, R::kLocal, M::kNone, InfoWithoutServer, nullptr, "loading stale", 0, 0, 0},
      {"get", 2, R::kKey, M::kNone, Get, nullptr, "readonly fast", 1, 1, 1},
      {"set", -3, R::kKey, M::kNone, Set, nullptr, "write denyoom", 1, 1, 1},
      {"getset", 3, R::kKey, M::kNone, GetSet, nullptr, "write denyoom fast", 1, 1, 1},
      {"del", -2, R::kKeys, M::kSum, Del, Del, "write", 1, -1, 1},
      {"exists", -2, R::kKeys, M::kSum, Exists, Exists, "readonly fast", 1, -1, 1},
      {"incr", 2, R::kKey, M::kNone, Incr, nullptr, "write denyoom fast", 1, 1, 1},
      {"incrby", 3, R::kKey, M::kNone, IncrByCmd, nullptr, "write denyoom fast", 1, 1, 1},
      {"decr", 2, R::kKey, M::kNone, Decr, nullptr, "write denyoom fast", 1, 1, 1},
      {"decrby", 3, R::kKey, M::kNone, DecrByCmd, nullptr, "write denyoom fast", 1, 1, 1},
      {"append", 3, R::kKey, M::kNone, Append, nullptr, "write denyoom fast", 1, 1, 1},
      {"strlen", 2, R::kKey, M::kNone, Strlen, nullptr, "readonly fast", 1, 1, 1},
      {"mset", -3, R::kPairs, M::kOk, Mset, Mset, "write denyoom", 1, -1, 2},
      {"mget", -2, R::kKeys, M::kArray, Mget, MgetElements, "readonly fast", 1, -1, 1},
      {"expire", -3, R::kKey, M::kNone, Expire, nullptr, "write fast", 1, 1, 1},
      {"pexpire", -3, R::kKey, M::kNone, Pexpire, nullptr, "write fast", 1, 1, 1},
      {"ttl", 2, R::kKey, M::kNone, Ttl, nullptr, "readonly fast", 1, 1, 1},
      {"pttl", 2, R::kKey, M::kNone, Pttl, nullptr, "readonly fast", 1, 1, 1},
      {"persist", 2, R::kKey, M::kNone, Persist, nullptr, "write fast", 1, 1, 1},
      {"lpush", -3, R::kKey, M::kNone, Lpush, nullptr, "write denyoom fast", 1, 1, 1},
      {"rpush", -3, R::kKey, M::kNone, Rpush, nullptr, "write denyoom fast", 1, 1, 1},
      {"lpop", -2, R::kKey, M::kNone, Lpop, nullptr, "write fast", 1, 1, 1},
      {"rpop", -2, R::kKey, M::kNone, Rpop, nullptr, "write fast", 1, 1, 1},
      {"llen", 2, R::kKey, M::kNone, Llen, nullptr, "readonly fast", 1, 1, 1},
      {"lrange", 4, R::kKey, M::kNone, Lrange, nullptr, "readonly", 1, 1, 1},
      {"sadd", -3, R::kKey, M::kNone, Sadd, nullptr, "write denyoom fast", 1, 1, 1},
      {"srem", -3, R::kKey, M::kNone, Srem, nullptr, "write fast", 1, 1, 1},
      {"scard", 2, R::kKey, M::kNone, Scard, nullptr, "readonly fast", 1, 1, 1},
      {"sismember", 3, R::kKey, M::kNone, Sismember, nullptr, "readonly fast", 1, 1, 1},
      {"smembers", 2, R::kKey, M::kNone, Smembers, nullptr, "readonly", 1, 1, 1},
      {"spop", -2, R::kKey, M::kNone, Spop, nullptr, "write fast", 1, 1, 1},
      {"hset", -4, R::kKey, M::kNone, Hset, nullptr, "write denyoom fast", 1, 1, 1},
      {"hget", 3, R::kKey, M::kNone, Hget, nullptr, "readonly fast", 1, 1, 1},
      {"hdel", -3, R::kKey, M::kNone, Hdel, nullptr, "write fast", 1, 1, 1},
      {"hgetall", 2, R::kKey, M::kNone, Hgetall, nullptr, "readonly", 1, 1, 1},
      {"hlen", 2, R::kKey, M::kNone, Hlen, nullptr, "readonly fast", 1, 1, 1},
      {"hincrby", 4, R::kKey, M::kNone, Hincrby, nullptr, "write denyoom fast", 1, 1, 1},
      {"dbsize", 1, R::kAll, M::kSum, Dbsize, Dbsize, "readonly fast", 0, 0, 0},
      {"flushall", -1, R::kAll, M::kOk, Flushall, Flushall, "write", 0, 0, 0},
  };
}

}  // namespace

const std::vector<CommandSpec>& AllCommands() {
  static const std::vector<CommandSpec>* table =
      new std::vector<CommandSpec>(MakeTable());
  return *table;
}

const CommandSpec* LookupCommand(absl::string_view name) {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<absl::string_view, const CommandSpec*>();
    for (const CommandSpec& c : AllCommands()) (*m)[c.name] = &c;
    return m;
  }();
  char lower[16];
  if (name.size() > sizeof(lower)) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) {  // ASCII, no locale lookup
    const char c = name[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  auto it = index->find(absl::string_view(lower, name.size()));
  return it == index->end() ? nullptr : it->second;
}

bool CheckArity(const CommandSpec& spec, Args args, std::string* out) {
  const int n = static_cast<int>(args.size());
  bool ok = spec.arity >= 0 ? n == spec.arity : n >= -spec.arity;
  // Shapes the arity number cannot say.
  if (ok && spec.name == "ping") ok = n <= 2;
  if (ok && spec.name == "mset") ok = n % 2 == 1;
  if (ok && spec.name == "hset") ok = n % 2 == 0;
  if (ok && (spec.name == "lpop" || spec.name == "rpop" ||
             spec.name == "spop")) {
    ok = n <= 3;
  }
  if (!ok) {
    AppendError(out, absl::StrCat("ERR wrong number of arguments for '",
                                  spec.name, "' command"));
  }
  return ok;
}

void AppendUnknownCommand(Args args, std::string* out) {
  std::string list;
  for (size_t i = 1; i < args.size() && list.size() < 128; ++i) {
    absl::StrAppend(&list, "'", args[i].substr(0, 128 - list.size()), "' ");
  }
  std::string message = absl::StrCat("ERR unknown command '",
                                     args[0].substr(0, 128),
                                     "', with args beginning with: ", list);
  // An error line cannot hold a line break.
  for (char& c : message) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  AppendError(out, message);
}

bool ParseRedisInt(absl::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    *out = 0;
    return true;
  }
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) ++i;
  if (i == s.size() || s[i] < '1' || s[i] > '9') return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(kMaxInt) + 1) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(kMaxInt)) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

}  // namespace actnet::redis
