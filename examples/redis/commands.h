// The command table: for each supported Redis command, its arity, how the
// server routes it (which keys decide the shard, or which shards it spans),
// how the replies of a split command are merged, and the function that runs
// it against one shard's Keyspace and appends the RESP reply.
//
// Nothing here knows about connections or loops; the functions are plain
// and are what the unit tests drive. Thread-compatible: the table is
// immutable after first use.
#ifndef ACTNET_EXAMPLES_REDIS_COMMANDS_H_
#define ACTNET_EXAMPLES_REDIS_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "examples/redis/keyspace.h"

namespace actnet::redis {

using Args = absl::Span<const absl::string_view>;
using CommandFn = void (*)(Keyspace&, Args, std::string*);

// Where a command runs.
enum class Route : uint8_t {
  kLocal,  // no key: the connection's own loop answers (PING, CONFIG...)
  kKey,    // one key, args[1]: the shard owning it
  kKeys,   // every argument from args[1] is a key (DEL, EXISTS, MGET)
  kPairs,  // key value pairs from args[1] (MSET)
  kAll,    // every shard (DBSIZE, FLUSHALL)
};

// How the replies of a command split across shards combine.
enum class Merge : uint8_t {
  kNone,
  kSum,    // integers added (DEL, EXISTS, DBSIZE)
  kArray,  // per-key elements reassembled in key order (MGET)
  kOk,     // +OK once every part is done (MSET, FLUSHALL)
};

struct CommandSpec {
  absl::string_view name;  // lower case
  int arity;               // Redis convention: n exact, -n at least n
  Route route;
  Merge merge;
  CommandFn run;   // the whole command on one keyspace
  CommandFn part;  // one shard's share of a split command (args[0] kept)
  absl::string_view flags;  // COMMAND's flags, space-separated
  int first_key, last_key, key_step;
};

// The spec for a command name in any case, or null.
const CommandSpec* LookupCommand(absl::string_view name);
const std::vector<CommandSpec>& AllCommands();

// Appends Redis's arity error and returns false if args do not fit.
bool CheckArity(const CommandSpec& spec, Args args, std::string* out);
void AppendUnknownCommand(Args args, std::string* out);

// Redis's string2ll: optional '-', no '+', spaces or leading zeros.
bool ParseRedisInt(absl::string_view s, int64_t* out);

// Error lines (without '-' and CRLF), as Redis words them.
inline constexpr absl::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr absl::string_view kErrNotInteger =
    "ERR value is not an integer or out of range";
inline constexpr absl::string_view kErrSyntax = "ERR syntax error";
inline constexpr absl::string_view kErrOverflow =
    "ERR increment or decrement would overflow";
inline constexpr absl::string_view kErrNotPositive =
    "ERR value is out of range, must be positive";

namespace internal {
// Implementations of the collection commands (commands_collections.cc).
void Lpush(Keyspace&, Args, std::string*);
void Rpush(Keyspace&, Args, std::string*);
void Lpop(Keyspace&, Args, std::string*);
void Rpop(Keyspace&, Args, std::string*);
void Llen(Keyspace&, Args, std::string*);
void Lrange(Keyspace&, Args, std::string*);
void Sadd(Keyspace&, Args, std::string*);
void Srem(Keyspace&, Args, std::string*);
void Scard(Keyspace&, Args, std::string*);
void Sismember(Keyspace&, Args, std::string*);
void Smembers(Keyspace&, Args, std::string*);
void Spop(Keyspace&, Args, std::string*);
void Hset(Keyspace&, Args, std::string*);
void Hget(Keyspace&, Args, std::string*);
void Hdel(Keyspace&, Args, std::string*);
void Hgetall(Keyspace&, Args, std::string*);
void Hlen(Keyspace&, Args, std::string*);
void Hincrby(Keyspace&, Args, std::string*);
// Server commands that need no keyspace (commands_server.cc).
void Ping(Keyspace&, Args, std::string*);
void Echo(Keyspace&, Args, std::string*);
void Select(Keyspace&, Args, std::string*);
void Quit(Keyspace&, Args, std::string*);
void Config(Keyspace&, Args, std::string*);
void Command(Keyspace&, Args, std::string*);
void InfoWithoutServer(Keyspace&, Args, std::string*);
}  // namespace internal

}  // namespace actnet::redis

#endif  // ACTNET_EXAMPLES_REDIS_COMMANDS_H_
