// Command semantics against a Keyspace directly: replies, error lines,
// types, expiry (lazy and swept) under a controlled clock, and the table's
// routing facts the server relies on.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "examples/redis/commands.h"
#include "examples/redis/keyspace.h"
#include "examples/redis/shard.h"

namespace actnet::redis {
namespace {

// Runs one command the way a session does (lookup, arity, run).
std::string Run(Keyspace& ks, std::initializer_list<absl::string_view> argv) {
  std::vector<absl::string_view> args(argv);
  std::string out;
  const CommandSpec* spec = LookupCommand(args[0]);
  if (spec == nullptr) {
    AppendUnknownCommand(Args(args), &out);
  } else if (CheckArity(*spec, Args(args), &out)) {
    spec->run(ks, Args(args), &out);
  }
  return out;
}

const std::string kNil = "$-1\r\n";
const std::string kWrongType =
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const std::string kNotInt = "-ERR value is not an integer or out of range\r\n";

TEST_SUITE("commands") {
  TEST_CASE("strings: SET GET GETSET APPEND STRLEN") {
    Keyspace ks;
    CHECK(Run(ks, {"SET", "k", "v"}) == "+OK\r\n");
    CHECK(Run(ks, {"get", "k"}) == "$1\r\nv\r\n");
    CHECK(Run(ks, {"GET", "none"}) == kNil);
    CHECK(Run(ks, {"GETSET", "k", "w"}) == "$1\r\nv\r\n");
    CHECK(Run(ks, {"APPEND", "k", "xyz"}) == ":4\r\n");
    CHECK(Run(ks, {"STRLEN", "k"}) == ":4\r\n");
    CHECK(Run(ks, {"STRLEN", "none"}) == ":0\r\n");
    CHECK(Run(ks, {"SET", "k", "a", "NX"}) == kNil);
    CHECK(Run(ks, {"SET", "new", "a", "XX"}) == kNil);
    CHECK(Run(ks, {"SET", "k", "b", "XX", "GET"}) == "$4\r\nwxyz\r\n");
    CHECK(Run(ks, {"SET", "k", "b", "NX", "XX"}) == "-ERR syntax error\r\n");
    CHECK(Run(ks, {"SET", "k", "b", "EX", "0"}) ==
          "-ERR invalid expire time in 'set' command\r\n");
    CHECK(Run(ks, {"SET", "k", "b", "EX", "x"}) == kNotInt);
  }

  TEST_CASE("counters: INCR family, integer parsing and overflow") {
    Keyspace ks;
    CHECK(Run(ks, {"INCR", "n"}) == ":1\r\n");
    CHECK(Run(ks, {"INCRBY", "n", "41"}) == ":42\r\n");
    CHECK(Run(ks, {"DECR", "n"}) == ":41\r\n");
    CHECK(Run(ks, {"DECRBY", "n", "50"}) == ":-9\r\n");
    CHECK(Run(ks, {"INCRBY", "n", "9223372036854775807"}) == ":9223372036854775798\r\n");
    CHECK(Run(ks, {"INCR", "n"}) == ":9223372036854775799\r\n");
    CHECK(Run(ks, {"INCRBY", "n", "100"}) ==
          "-ERR increment or decrement would overflow\r\n");
    CHECK(Run(ks, {"DECRBY", "n", "-9223372036854775808"}) ==
          "-ERR decrement would overflow\r\n");
    for (const char* bad : {" 1", "01", "+1", "1.5", "", "-0", "99999999999999999999"}) {
      CAPTURE(bad);
      Run(ks, {"SET", "s", bad});
      CHECK(Run(ks, {"INCR", "s"}) == kNotInt);
    }
    CHECK(Run(ks, {"INCRBY", "n", "x"}) == kNotInt);
  }

  TEST_CASE("types are enforced with WRONGTYPE and overwritten by SET") {
    Keyspace ks;
    Run(ks, {"LPUSH", "l", "a"});
    Run(ks, {"SADD", "s", "a"});
    Run(ks, {"HSET", "h", "f", "v"});
    Run(ks, {"SET", "str", "x"});
    CHECK(Run(ks, {"GET", "l"}) == kWrongType);
    CHECK(Run(ks, {"INCR", "s"}) == kWrongType);
    CHECK(Run(ks, {"LPUSH", "h", "a"}) == kWrongType);
    CHECK(Run(ks, {"SADD", "str", "a"}) == kWrongType);
    CHECK(Run(ks, {"HGET", "l", "f"}) == kWrongType);
    CHECK(Run(ks, {"MGET", "l", "str"}) == "*2\r\n$-1\r\n$1\r\nx\r\n");
    CHECK(Run(ks, {"SET", "l", "now a string"}) == "+OK\r\n");
    CHECK(Run(ks, {"GET", "l"}) == "$12\r\nnow a string\r\n");
  }

  TEST_CASE("lists: push, pop with and without count, ranges") {
    Keyspace ks;
    CHECK(Run(ks, {"RPUSH", "l", "a", "b", "c"}) == ":3\r\n");
    CHECK(Run(ks, {"LPUSH", "l", "z"}) == ":4\r\n");
    CHECK(Run(ks, {"LRANGE", "l", "0", "-1"}) ==
          "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    CHECK(Run(ks, {"LRANGE", "l", "-2", "100"}) == "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
    CHECK(Run(ks, {"LRANGE", "l", "3", "1"}) == "*0\r\n");
    CHECK(Run(ks, {"LPOP", "l"}) == "$1\r\nz\r\n");
    CHECK(Run(ks, {"RPOP", "l", "2"}) == "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
    CHECK(Run(ks, {"LLEN", "l"}) == ":1\r\n");
    CHECK(Run(ks, {"LPOP", "l", "-1"}) ==
          "-ERR value is out of range, must be positive\r\n");
    CHECK(Run(ks, {"LPOP", "l"}) == "$1\r\na\r\n");
    CHECK(Run(ks, {"EXISTS", "l"}) == ":0\r\n");  // emptied: gone
    CHECK(Run(ks, {"LPOP", "l"}) == kNil);
    CHECK(Run(ks, {"LPOP", "l", "3"}) == "*-1\r\n");
  }

  TEST_CASE("sets: add, remove, membership, pop") {
    Keyspace ks;
    CHECK(Run(ks, {"SADD", "s", "a", "b", "a"}) == ":2\r\n");
    CHECK(Run(ks, {"SCARD", "s"}) == ":2\r\n");
    CHECK(Run(ks, {"SISMEMBER", "s", "a"}) == ":1\r\n");
    CHECK(Run(ks, {"SISMEMBER", "s", "x"}) == ":0\r\n");
    const std::string members = Run(ks, {"SMEMBERS", "s"});
    CHECK((members == "*2\r\n$1\r\na\r\n$1\r\nb\r\n" ||
           members == "*2\r\n$1\r\nb\r\n$1\r\na\r\n"));
    CHECK(Run(ks, {"SREM", "s", "a", "x"}) == ":1\r\n");
    CHECK(Run(ks, {"SPOP", "s"}) == "$1\r\nb\r\n");
    CHECK(Run(ks, {"EXISTS", "s"}) == ":0\r\n");
    CHECK(Run(ks, {"SPOP", "s"}) == kNil);
    CHECK(Run(ks, {"SPOP", "s", "2"}) == "*0\r\n");
    Run(ks, {"SADD", "t", "1", "2", "3", "4", "5"});
    std::set<std::string> popped;
    for (int i = 0; i < 5; ++i) popped.insert(Run(ks, {"SPOP", "t"}));
    CHECK(popped.size() == 5);
    CHECK(Run(ks, {"SCARD", "t"}) == ":0\r\n");
  }

  TEST_CASE("hashes: set, get, delete, increment") {
    Keyspace ks;
    CHECK(Run(ks, {"HSET", "h", "a", "1", "b", "2"}) == ":2\r\n");
    CHECK(Run(ks, {"HSET", "h", "a", "3"}) == ":0\r\n");
    CHECK(Run(ks, {"HGET", "h", "a"}) == "$1\r\n3\r\n");
    CHECK(Run(ks, {"HLEN", "h"}) == ":2\r\n");
    CHECK(Run(ks, {"HINCRBY", "h", "a", "4"}) == ":7\r\n");
    CHECK(Run(ks, {"HINCRBY", "h", "new", "-1"}) == ":-1\r\n");
    Run(ks, {"HSET", "h", "s", "str"});
    CHECK(Run(ks, {"HINCRBY", "h", "s", "1"}) == "-ERR hash value is not an integer\r\n");
    CHECK(Run(ks, {"HDEL", "h", "a", "b", "new", "s", "zz"}) == ":4\r\n");
    CHECK(Run(ks, {"HGETALL", "h"}) == "*0\r\n");
    CHECK(Run(ks, {"EXISTS", "h"}) == ":0\r\n");
  }

  TEST_CASE("multi-key commands and their per-shard parts") {
    Keyspace ks;
    CHECK(Run(ks, {"MSET", "a", "1", "b", "2"}) == "+OK\r\n");
    CHECK(Run(ks, {"MGET", "a", "x", "b"}) == "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    CHECK(Run(ks, {"EXISTS", "a", "a", "x"}) == ":2\r\n");
    CHECK(Run(ks, {"DEL", "a", "x"}) == ":1\r\n");
    // A shard's share of MGET is the elements alone: the session merges.
    std::vector<absl::string_view> part = {"mget", "b", "a"};
    std::string out;
    LookupCommand("mget")->part(ks, Args(part), &out);
    CHECK(out == "$1\r\n2\r\n$-1\r\n");
    CHECK(LookupCommand("MGET")->merge == Merge::kArray);
    CHECK(LookupCommand("del")->merge == Merge::kSum);
    CHECK(LookupCommand("mset")->route == Route::kPairs);
    CHECK(LookupCommand("dbsize")->route == Route::kAll);
  }

  TEST_CASE("arity and unknown commands answer Redis's error lines") {
    Keyspace ks;
    CHECK(Run(ks, {"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
    CHECK(Run(ks, {"MSET", "a", "1", "b"}) ==
          "-ERR wrong number of arguments for 'mset' command\r\n");
    CHECK(Run(ks, {"HSET", "h", "f"}) ==
          "-ERR wrong number of arguments for 'hset' command\r\n");
    CHECK(Run(ks, {"PING", "a", "b"}) ==
          "-ERR wrong number of arguments for 'ping' command\r\n");
    CHECK(Run(ks, {"NOPE", "a", "b"}) ==
          "-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n");
    CHECK(Run(ks, {"CONFIG", "GET"}) ==
          "-ERR wrong number of arguments for 'config|get' command\r\n");
    CHECK(Run(ks, {"SELECT", "0"}) == "+OK\r\n");
    CHECK(Run(ks, {"SELECT", "1"}) == "-ERR DB index is out of range\r\n");
  }

  TEST_CASE("CONFIG GET and COMMAND answer what clients ask for") {
    Keyspace ks;
    CHECK(Run(ks, {"CONFIG", "GET", "appendonly"}) ==
          "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    CHECK(Run(ks, {"CONFIG", "GET", "sav*"}) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    CHECK(Run(ks, {"CONFIG", "GET", "nothing"}) == "*0\r\n");
    CHECK(Run(ks, {"COMMAND", "COUNT"}) ==
          ":" + std::to_string(AllCommands().size()) + "\r\n");
    CHECK(Run(ks, {"COMMAND", "INFO", "get"}).rfind("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n", 0) == 0);
    CHECK(Run(ks, {"COMMAND", "DOCS"}) == "*0\r\n");
  }
}

TEST_SUITE("expiry") {
  TEST_CASE("a key is invisible from its expiry time on (lazy expiry)") {
    Keyspace ks;
    ks.set_now_ms(1000);
    CHECK(Run(ks, {"SET", "k", "v", "PX", "500"}) == "+OK\r\n");
    CHECK(Run(ks, {"PTTL", "k"}) == ":500\r\n");
    CHECK(Run(ks, {"TTL", "k"}) == ":1\r\n");  // rounded, as Redis does
    ks.set_now_ms(1499);
    CHECK(Run(ks, {"GET", "k"}) == "$1\r\nv\r\n");
    ks.set_now_ms(1500);
    CHECK(Run(ks, {"GET", "k"}) == kNil);
    CHECK(Run(ks, {"TTL", "k"}) == ":-2\r\n");
    CHECK(ks.size() == 0);
  }

  TEST_CASE("EXPIRE, PEXPIRE, PERSIST and writes that clear the TTL") {
    Keyspace ks;
    ks.set_now_ms(0);
    Run(ks, {"SET", "k", "1"});
    CHECK(Run(ks, {"TTL", "k"}) == ":-1\r\n");
    CHECK(Run(ks, {"EXPIRE", "k", "10"}) == ":1\r\n");
    CHECK(Run(ks, {"INCR", "k"}) == ":2\r\n");  // keeps the TTL
    CHECK(Run(ks, {"TTL", "k"}) == ":10\r\n");
    CHECK(Run(ks, {"PERSIST", "k"}) == ":1\r\n");
    CHECK(Run(ks, {"PERSIST", "k"}) == ":0\r\n");
    CHECK(Run(ks, {"PEXPIRE", "k", "100"}) == ":1\r\n");
    CHECK(Run(ks, {"SET", "k", "x"}) == "+OK\r\n");  // clears the TTL
    CHECK(Run(ks, {"PTTL", "k"}) == ":-1\r\n");
    CHECK(Run(ks, {"EXPIRE", "k", "-1"}) == ":1\r\n");  // deletes
    CHECK(Run(ks, {"EXISTS", "k"}) == ":0\r\n");
    CHECK(Run(ks, {"EXPIRE", "none", "5"}) == ":0\r\n");
    CHECK(Run(ks, {"EXPIRE", "k", "99999999999999999"}) ==
          "-ERR invalid expire time in 'expire' command\r\n");
  }

  TEST_CASE("the sweep reclaims expired keys nobody reads, within budget") {
    Keyspace ks;
    ks.set_now_ms(0);
    for (int i = 0; i < 100; ++i) {
      const std::string key = "k" + std::to_string(i);
      Run(ks, {"SET", key, "v", "PX", i < 60 ? "10" : "1000"});
    }
    Run(ks, {"SET", "kept", "v"});
    Run(ks, {"SET", "k0", "rewritten"});  // its old expiry is stale
    CHECK(ks.size() == 101);
    ks.set_now_ms(20);
    const size_t first = ks.Sweep(25);  // k0's stale entry may use one
    CHECK((first == 24 || first == 25));
    CHECK(ks.HasDue());
    ks.Sweep(1000);
    CHECK_FALSE(ks.HasDue());
    CHECK(ks.size() == 42);  // 40 long-lived, "kept" and the rewritten k0
    ks.set_now_ms(2000);
    CHECK(ks.Sweep(1000) == 40);
    CHECK(ks.size() == 2);
  }
}

TEST_SUITE("parsing and sharding") {
  TEST_CASE("ParseRedisInt accepts exactly Redis's integers") {
    int64_t v;
    CHECK((ParseRedisInt("0", &v) && v == 0));
    CHECK((ParseRedisInt("-9223372036854775808", &v) && v == INT64_MIN));
    CHECK((ParseRedisInt("9223372036854775807", &v) && v == INT64_MAX));
    for (const char* bad : {"", "-", "+1", "01", "-0", " 1", "1 ", "9223372036854775808"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseRedisInt(bad, &v));
    }
  }

  TEST_CASE("ShardOf is stable and spreads keys over every shard") {
    std::set<uint32_t> seen;
    for (int i = 0; i < 200; ++i) {
      const std::string key = "key:" + std::to_string(i);
      const uint32_t s = ShardOf(key, 4);
      CHECK(s < 4);
      CHECK(ShardOf(key, 4) == s);
      seen.insert(s);
    }
    CHECK(seen.size() == 4);
    CHECK(ShardOf("anything", 1) == 0);
  }
}

}  // namespace
}  // namespace actnet::redis
