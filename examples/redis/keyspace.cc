#include "examples/redis/keyspace.h"

namespace actnet::redis {

Keyspace::Entry* Keyspace::Find(absl::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  Entry& e = it->second;
  if (e.expire_at_ms != 0 && e.expire_at_ms <= now_ms_) {
    map_.erase(it);
    return nullptr;
  }
  return &e;
}

void Keyspace::SetString(absl::string_view key, absl::string_view value,
                         bool keep_ttl) {
  auto [it, inserted] = map_.try_emplace(key);
  Entry& e = it->second;
  if (!inserted && e.expire_at_ms != 0 && e.expire_at_ms <= now_ms_) {
    e.expire_at_ms = 0;  // the old key had expired: nothing to keep
  }
  if (std::string* s = std::get_if<std::string>(&e.value)) {
    s->assign(value.data(), value.size());
  } else {
    e.value.emplace<std::string>(value);
  }
  if (!keep_ttl) e.expire_at_ms = 0;
}

bool Keyspace::Erase(absl::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  const int64_t at = it->second.expire_at_ms;
  map_.erase(it);
  return at == 0 || at > now_ms_;  // an expired key was not there
}

void Keyspace::EraseIfEmpty(absl::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  const bool empty = std::visit(
      [](const auto& v) -> bool {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return false;
        } else {
          return v.empty();
        }
      },
      it->second.value);
  if (empty) map_.erase(it);
}

bool Keyspace::SetExpire(absl::string_view key, int64_t at_ms) {
  Entry* e = Find(key);
  if (e == nullptr) return false;
  e->expire_at_ms = at_ms;
  expiries_.push(Due{at_ms, std::string(key)});
  return true;
}

bool Keyspace::Persist(absl::string_view key) {
  Entry* e = Find(key);
  if (e == nullptr || e->expire_at_ms == 0) return false;
  e->expire_at_ms = 0;
  return true;
}

size_t Keyspace::Sweep(size_t budget) {
  size_t removed = 0;
  while (budget > 0 && !expiries_.empty() &&
         expiries_.top().at_ms <= now_ms_) {
    --budget;
    const Due& due = expiries_.top();
    auto it = map_.find(due.key);
    if (it != map_.end() && it->second.expire_at_ms == due.at_ms) {
      map_.erase(it);
      ++removed;
    }
    expiries_.pop();
  }
  // Superseded items pile up if keys are re-expired far ahead; rebuild
  // from the live expiries when they dominate.
  if (expiries_.size() > 1024 && expiries_.size() > 4 * map_.size()) {
    decltype(expiries_) fresh;
    for (const auto& [key, entry] : map_) {
      if (entry.expire_at_ms != 0) fresh.push(Due{entry.expire_at_ms, key});
    }
    expiries_.swap(fresh);
  }
  return removed;
}

void Keyspace::Clear() {
  map_.clear();
  expiries_ = {};
}

}  // namespace actnet::redis
