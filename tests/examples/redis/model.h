// The reference for pipelined tests: a deterministic mixed workload over
// keys that land on every shard, and the replies a single, unsharded
// Keyspace gives for it. One connection's commands are sequential, so a
// sharded server must answer byte-for-byte the same. Test-only.
#ifndef ACTNET_TESTS_EXAMPLES_REDIS_MODEL_H_
#define ACTNET_TESTS_EXAMPLES_REDIS_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace actnet::redis::testing {

using Commands = std::vector<std::vector<std::string>>;

// `n` commands (strings, counters, lists, hashes, sets, multi-key commands
// spanning shards, errors) over keys named "<prefix>:<i>".
Commands Workload(const std::string& prefix, size_t n, uint32_t seed);
// The concatenated replies of a fresh keyspace running `commands` in order.
std::string ModelReplies(const Commands& commands);
// The commands as one pipelined byte string.
std::string Encode(const Commands& commands);

}  // namespace actnet::redis::testing

#endif  // ACTNET_TESTS_EXAMPLES_REDIS_MODEL_H_
