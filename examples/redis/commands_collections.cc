// List, set and hash commands. Each removes its key once the collection is
// empty, as Redis does.
#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "examples/redis/commands.h"
#include "examples/redis/resp.h"

namespace actnet::redis::internal {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinInt = std::numeric_limits<int64_t>::min();

// The optional count of LPOP/RPOP/SPOP; false (reply written) if invalid.
bool ParseCount(Args a, bool* has_count, int64_t* count, std::string* out) {
  *has_count = a.size() == 3;
  *count = 1;
  if (!*has_count) return true;
  if (!ParseRedisInt(a[2], count) || *count < 0) {
    AppendError(out, kErrNotPositive);
    return false;
  }
  return true;
}

void Push(Keyspace& ks, Args a, std::string* out, bool left) {
  bool wrong;
  List* l = ks.FindOrCreate<List>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  for (size_t i = 2; i < a.size(); ++i) {
    if (left) {
      l->emplace_front(a[i]);
    } else {
      l->emplace_back(a[i]);
    }
  }
  AppendInt(out, static_cast<int64_t>(l->size()));
}

void Pop(Keyspace& ks, Args a, std::string* out, bool left) {
  bool has_count;
  int64_t count;
  if (!ParseCount(a, &has_count, &count, out)) return;
  bool wrong;
  List* l = ks.FindAs<List>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (l == nullptr) return has_count ? AppendNilArray(out) : AppendNil(out);
  const size_t n = std::min(static_cast<size_t>(count), l->size());
  if (has_count) AppendArray(out, static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    if (left) {
      AppendBulk(out, l->front());
      l->pop_front();
    } else {
      AppendBulk(out, l->back());
      l->pop_back();
    }
  }
  ks.EraseIfEmpty(a[1]);
}

std::minstd_rand& Random() {
  thread_local std::minstd_rand rng(std::random_device{}());
  return rng;
}

}  // namespace

void Lpush(Keyspace& ks, Args a, std::string* out) { Push(ks, a, out, true); }
void Rpush(Keyspace& ks, Args a, std::string* out) { Push(ks, a, out, false); }
void Lpop(Keyspace& ks, Args a, std::string* out) { Pop(ks, a, out, true); }
void Rpop(Keyspace& ks, Args a, std::string* out) { Pop(ks, a, out, false); }

void Llen(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const List* l = ks.FindAs<List>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  AppendInt(out, l == nullptr ? 0 : static_cast<int64_t>(l->size()));
}

void Lrange(Keyspace& ks, Args a, std::string* out) {
  int64_t start, stop;
  if (!ParseRedisInt(a[2], &start) || !ParseRedisInt(a[3], &stop)) {
    return AppendError(out, kErrNotInteger);
  }
  bool wrong;
  const List* l = ks.FindAs<List>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (l == nullptr) return AppendArray(out, 0);
  const int64_t len = static_cast<int64_t>(l->size());
  if (start < 0) start = std::max<int64_t>(start + len, 0);
  if (stop < 0) stop += len;
  if (start > stop || start >= len) return AppendArray(out, 0);
  if (stop >= len) stop = len - 1;
  AppendArray(out, stop - start + 1);
  for (int64_t i = start; i <= stop; ++i) {
    AppendBulk(out, (*l)[static_cast<size_t>(i)]);
  }
}

void Sadd(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  Set* s = ks.FindOrCreate<Set>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  int64_t added = 0;
  for (size_t i = 2; i < a.size(); ++i) added += s->emplace(a[i]).second;
  AppendInt(out, added);
}

void Srem(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  Set* s = ks.FindAs<Set>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  int64_t removed = 0;
  if (s != nullptr) {
    for (size_t i = 2; i < a.size(); ++i) {
      auto it = s->find(a[i]);
      if (it != s->end()) {
        s->erase(it);
        ++removed;
      }
    }
    ks.EraseIfEmpty(a[1]);
  }
  AppendInt(out, removed);
}

void Scard(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const Set* s = ks.FindAs<Set>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  AppendInt(out, s == nullptr ? 0 : static_cast<int64_t>(s->size()));
}

void Sismember(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const Set* s = ks.FindAs<Set>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  AppendInt(out, s != nullptr && s->contains(a[2]) ? 1 : 0);
}

void Smembers(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const Set* s = ks.FindAs<Set>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (s == nullptr) return AppendArray(out, 0);
  AppendArray(out, static_cast<int64_t>(s->size()));
  for (const std::string& m : *s) AppendBulk(out, m);
}

void Spop(Keyspace& ks, Args a, std::string* out) {
  bool has_count;
  int64_t count;
  if (!ParseCount(a, &has_count, &count, out)) return;
  bool wrong;
  Set* s = ks.FindAs<Set>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (s == nullptr) return has_count ? AppendArray(out, 0) : AppendNil(out);
  const size_t n = std::min(static_cast<size_t>(count), s->size());
  if (has_count) AppendArray(out, static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    // A random member near the start of the (already scrambled) table:
    // bounded work per pop.
    auto it = s->begin();
    const size_t skip = Random()() % std::min<size_t>(s->size(), 16);
    std::advance(it, static_cast<std::ptrdiff_t>(skip));
    AppendBulk(out, *it);
    s->erase(it);
  }
  ks.EraseIfEmpty(a[1]);
}

void Hset(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  Hash* h = ks.FindOrCreate<Hash>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  int64_t added = 0;
  for (size_t i = 2; i + 1 < a.size(); i += 2) {
    auto [it, inserted] = h->try_emplace(a[i]);
    it->second.assign(a[i + 1].data(), a[i + 1].size());
    added += inserted;
  }
  AppendInt(out, added);
}

void Hget(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const Hash* h = ks.FindAs<Hash>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (h == nullptr) return AppendNil(out);
  auto it = h->find(a[2]);
  if (it == h->end()) return AppendNil(out);
  AppendBulk(out, it->second);
}

void Hdel(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  Hash* h = ks.FindAs<Hash>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  int64_t removed = 0;
  if (h != nullptr) {
    for (size_t i = 2; i < a.size(); ++i) {
      auto it = h->find(a[i]);
      if (it != h->end()) {
        h->erase(it);
        ++removed;
      }
    }
    ks.EraseIfEmpty(a[1]);
  }
  AppendInt(out, removed);
}

void Hgetall(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const Hash* h = ks.FindAs<Hash>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  if (h == nullptr) return AppendArray(out, 0);
  AppendArray(out, 2 * static_cast<int64_t>(h->size()));
  for (const auto& [field, value] : *h) {
    AppendBulk(out, field);
    AppendBulk(out, value);
  }
}

void Hlen(Keyspace& ks, Args a, std::string* out) {
  bool wrong;
  const Hash* h = ks.FindAs<Hash>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  AppendInt(out, h == nullptr ? 0 : static_cast<int64_t>(h->size()));
}

void Hincrby(Keyspace& ks, Args a, std::string* out) {
  int64_t by;
  if (!ParseRedisInt(a[3], &by)) return AppendError(out, kErrNotInteger);
  bool wrong;
  Hash* h = ks.FindOrCreate<Hash>(a[1], &wrong);
  if (wrong) return AppendError(out, kErrWrongType);
  auto [it, inserted] = h->try_emplace(a[2], "0");
  int64_t v;
  if (!ParseRedisInt(it->second, &v)) {
    return AppendError(out, "ERR hash value is not an integer");
  }
  if ((by < 0 && v < kMinInt - by) || (by > 0 && v > kMaxInt - by)) {
    if (inserted) {
      h->erase(it);
      ks.EraseIfEmpty(a[1]);
    }
    return AppendError(out, kErrOverflow);
  }
  it->second = absl::StrCat(v + by);
  AppendInt(out, v + by);
}

}  // namespace actnet::redis::internal
