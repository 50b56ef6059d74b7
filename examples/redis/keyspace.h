// Keyspace: the keys of one shard, with their values (string, list, set,
// hash) and expiry times. Expired keys are invisible from the moment they
// expire (every lookup checks, "lazy" expiry) and are reclaimed by Sweep(),
// which the owning shard runs on a periodic loop timer.
//
// Time is given, not read: the owner sets now_ms() (a monotonic clock in
// milliseconds) before running commands, so tests control it.
//
// Not thread-safe: a keyspace belongs to one shard and is used only on that
// shard's loop thread.
#ifndef ACTNET_EXAMPLES_REDIS_KEYSPACE_H_
#define ACTNET_EXAMPLES_REDIS_KEYSPACE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace actnet::redis {

using List = std::deque<std::string>;
using Set = absl::flat_hash_set<std::string>;
using Hash = absl::flat_hash_map<std::string, std::string>;
using Value = std::variant<std::string, List, Set, Hash>;

class Keyspace {
 public:
  struct Entry {
    Value value;
    int64_t expire_at_ms = 0;  // 0: no expiry
  };

  void set_now_ms(int64_t now) { now_ms_ = now; }
  int64_t now_ms() const { return now_ms_; }

  // The live entry for `key`, or null (an expired one is deleted first).
  Entry* Find(absl::string_view key);
  // The live value of type T, or null if absent. *wrong_type is set when
  // the key holds another type.
  template <class T>
  T* FindAs(absl::string_view key, bool* wrong_type) {
    *wrong_type = false;
    Entry* e = Find(key);
    if (e == nullptr) return nullptr;
    T* v = std::get_if<T>(&e->value);
    if (v == nullptr) *wrong_type = true;
    return v;
  }
  // As FindAs, but creates an empty T (no expiry) if the key is absent.
  template <class T>
  T* FindOrCreate(absl::string_view key, bool* wrong_type) {
    T* v = FindAs<T>(key, wrong_type);
    if (v != nullptr || *wrong_type) return v;
    auto [it, inserted] = map_.try_emplace(key);
    it->second.value.template emplace<T>();
    return std::get_if<T>(&it->second.value);
  }
  // Sets a string value, dropping any expiry unless keep_ttl.
  void SetString(absl::string_view key, absl::string_view value,
                 bool keep_ttl = false);
  bool Erase(absl::string_view key);
  // Deletes the key if it holds an empty list, set or hash (Redis never
  // keeps empty aggregates).
  void EraseIfEmpty(absl::string_view key);

  // Expiry. SetExpire(key, at) on a live key; returns false if absent.
  bool SetExpire(absl::string_view key, int64_t at_ms);
  bool Persist(absl::string_view key);

  // Deletes up to `budget` keys whose time has come; returns how many.
  size_t Sweep(size_t budget);

  // Whether scheduled expiries are due now (Sweep has work left).
  bool HasDue() const {
    return !expiries_.empty() && expiries_.top().at_ms <= now_ms_;
  }

  size_t size() const { return map_.size(); }
  void Clear();
  // Scheduled expiries not yet swept (including superseded ones).
  size_t pending_expiries() const { return expiries_.size(); }

 private:
  struct Due {
    int64_t at_ms;
    std::string key;
    bool operator>(const Due& o) const { return at_ms > o.at_ms; }
  };

  absl::flat_hash_map<std::string, Entry> map_;
  // Min-heap of (time, key); an item is stale when the key's current
  // expiry differs (persisted, re-expired, deleted), and is skipped.
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> expiries_;
  int64_t now_ms_ = 0;
};

}  // namespace actnet::redis

#endif  // ACTNET_EXAMPLES_REDIS_KEYSPACE_H_
