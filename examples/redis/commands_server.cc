// Commands that touch no key: PING, ECHO, SELECT, QUIT, and the CONFIG GET
// and COMMAND subsets that redis-benchmark and redis-cli ask for. (INFO is
// answered by the session: it reports the engine's loops.)
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "examples/redis/commands.h"
#include "examples/redis/resp.h"

namespace actnet::redis::internal {
namespace {

// Glob match with '*' and '?', case-insensitive (CONFIG GET patterns).
bool GlobMatch(absl::string_view pattern, absl::string_view s) {
  size_t p = 0, i = 0, star = absl::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' ||
         absl::ascii_tolower(pattern[p]) == absl::ascii_tolower(s[i]))) {
      ++p;
      ++i;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

constexpr std::pair<absl::string_view, absl::string_view> kConfig[] = {
    {"appendonly", "no"},  {"save", ""},    {"databases", "1"},
    {"maxmemory", "0"},    {"timeout", "0"}, {"proto-max-bulk-len", "67108864"},
};

void AppendCommandInfo(const CommandSpec& c, std::string* out) {
  AppendArray(out, 10);
  AppendBulk(out, c.name);
  AppendInt(out, c.arity);
  std::vector<absl::string_view> flags =
      absl::StrSplit(c.flags, ' ', absl::SkipEmpty());
  AppendArray(out, static_cast<int64_t>(flags.size()));
  for (absl::string_view f : flags) AppendSimple(out, f);
  AppendInt(out, c.first_key);
  AppendInt(out, c.last_key);
  AppendInt(out, c.key_step);
  for (int i = 0; i < 4; ++i) AppendArray(out, 0);  // acl, tips, keys, subs
}

void UnknownSubcommand(absl::string_view sub, absl::string_view command,
                       std::string* out) {
  AppendError(out, absl::StrCat("ERR unknown subcommand '", sub.substr(0, 128),
                                "'. Try ", command, " HELP."));
}

}  // namespace

void Ping(Keyspace&, Args a, std::string* out) {
  if (a.size() == 1) return AppendSimple(out, "PONG");
  AppendBulk(out, a[1]);
}

void Echo(Keyspace&, Args a, std::string* out) { AppendBulk(out, a[1]); }

void Select(Keyspace&, Args a, std::string* out) {
  int64_t db;
  if (!ParseRedisInt(a[1], &db)) return AppendError(out, kErrNotInteger);
  if (db != 0) return AppendError(out, "ERR DB index is out of range");
  AppendSimple(out, "OK");
}

void Quit(Keyspace&, Args, std::string* out) { AppendSimple(out, "OK"); }

void Config(Keyspace&, Args a, std::string* out) {
  if (!absl::EqualsIgnoreCase(a[1], "get")) {
    return UnknownSubcommand(a[1], "CONFIG", out);
  }
  if (a.size() < 3) {
    return AppendError(
        out, "ERR wrong number of arguments for 'config|get' command");
  }
  std::vector<std::pair<absl::string_view, absl::string_view>> found;
  for (const auto& entry : kConfig) {
    for (size_t i = 2; i < a.size(); ++i) {
      if (GlobMatch(a[i], entry.first)) {
        found.push_back(entry);
        break;
      }
    }
  }
  AppendArray(out, 2 * static_cast<int64_t>(found.size()));
  for (const auto& [name, value] : found) {
    AppendBulk(out, name);
    AppendBulk(out, value);
  }
}

void InfoWithoutServer(Keyspace&, Args, std::string* out) {
  AppendError(out, "ERR INFO is answered by the server, not by a keyspace");
}

void Command(Keyspace&, Args a, std::string* out) {
  const std::vector<CommandSpec>& all = AllCommands();
  if (a.size() == 1) {
    AppendArray(out, static_cast<int64_t>(all.size()));
    for (const CommandSpec& c : all) AppendCommandInfo(c, out);
    return;
  }
  absl::string_view sub = a[1];
  if (absl::EqualsIgnoreCase(sub, "count") && a.size() == 2) {
    return AppendInt(out, static_cast<int64_t>(all.size()));
  }
  if (absl::EqualsIgnoreCase(sub, "list") && a.size() == 2) {
    AppendArray(out, static_cast<int64_t>(all.size()));
    for (const CommandSpec& c : all) AppendBulk(out, c.name);
    return;
  }
  if (absl::EqualsIgnoreCase(sub, "info")) {
    AppendArray(out, static_cast<int64_t>(a.size() - 2));
    for (size_t i = 2; i < a.size(); ++i) {
      const CommandSpec* c = LookupCommand(a[i]);
      if (c == nullptr) {
        AppendNilArray(out);
      } else {
        AppendCommandInfo(*c, out);
      }
    }
    return;
  }
  if (absl::EqualsIgnoreCase(sub, "docs")) {
    return AppendArray(out, 0);  // no documentation: clients fall back
  }
  UnknownSubcommand(sub, "COMMAND", out);
}

}  // namespace actnet::redis::internal
