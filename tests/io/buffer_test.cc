#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "io/buffer.h"

#include <sys/uio.h>

#include <random>
#include <string>
#include <utility>

#include "doctest/doctest.h"
#include "tests/testing/common.h"

namespace actnet::io {
namespace {

const int kFdsAtStart = testutil::CountOpenFds();

std::string Joined(const std::pair<absl::string_view, absl::string_view>& p) {
  return std::string(p.first) + std::string(p.second);
}

std::string Pattern(size_t n, char start = 'a') {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(start + i % 26);
  return s;
}

// Appends and discards so that the next `tail_room` bytes appended wrap.
void MakeWrapped(ByteRing& ring, size_t tail_room) {
  ring.Append(Pattern(ByteRing::kMinCapacity - tail_room));
  // One byte stays, so the ring is not emptied (which would release it).
  ring.Discard(ByteRing::kMinCapacity - tail_room - 1);
}

TEST_SUITE("ByteRing") {
  TEST_CASE("a new ring is empty and holds no memory") {
    ByteRing ring;
    CHECK(ring.empty());
    CHECK(ring.size() == 0);
    CHECK(ring.capacity() == 0);
    auto [a, b] = ring.Peek(10);
    CHECK(a.empty());
    CHECK(b.empty());
    CHECK(ring.Contiguous(10).empty());
    iovec iov[2];
    CHECK(ring.FillIovecs(iov, 2) == 0);
    char out[4];
    CHECK(ring.CopyOut(out, 4) == 0);
  }

  TEST_CASE("the first append allocates the 512-byte minimum") {
    ByteRing ring;
    ring.Append("hello");
    CHECK(ring.size() == 5);
    CHECK(ring.capacity() == 512);
    CHECK(Joined(ring.Peek(100)) == "hello");
    CHECK(Joined(ring.Peek(2)) == "he");
    ring.Append("", 0);
    CHECK(ring.size() == 5);
  }

  TEST_CASE("capacity doubles to the next power of two that fits") {
    ByteRing ring;
    ring.Append(Pattern(513));
    CHECK(ring.capacity() == 1024);
    ring.Append(Pattern(3000));
    CHECK(ring.capacity() == 4096);
    CHECK(Joined(ring.Peek(ring.size())) == Pattern(513) + Pattern(3000));
  }

  TEST_CASE("draining releases the memory") {
    ByteRing ring;
    ring.Append(Pattern(100));
    ring.Discard(40);
    CHECK(ring.capacity() == 512);
    ring.Discard(60);
    CHECK(ring.empty());
    CHECK(ring.capacity() == 0);
    ring.Append(Pattern(10));
    ring.Discard(1000);  // more than size: everything
    CHECK(ring.capacity() == 0);
    ring.Append(Pattern(10));
    char out[10];
    CHECK(ring.CopyOut(out, 10) == 10);
    CHECK(ring.capacity() == 0);
    ring.Append(Pattern(10));
    ring.Clear();
    CHECK(ring.empty());
    CHECK(ring.capacity() == 0);
  }

  TEST_CASE("wrapped data peeks as two spans") {
    ByteRing ring;
    MakeWrapped(ring, 10);
    const std::string before = Joined(ring.Peek(ring.size()));
    ring.Append(Pattern(30, 'A'));
    CHECK(ring.capacity() == 512);
    auto [first, second] = ring.Peek(ring.size());
    CHECK(first.size() == 11);
    CHECK(second.size() == 20);
    CHECK(Joined(ring.Peek(ring.size())) == before + Pattern(30, 'A'));
    // A peek that ends before the wrap point is a single span.
    CHECK(ring.Peek(5).second.empty());
    iovec iov[2];
    REQUIRE(ring.FillIovecs(iov, 2) == 2);
    CHECK(iov[0].iov_len == 11);
    CHECK(iov[1].iov_len == 20);
    CHECK(ring.FillIovecs(iov, 1) == 1);
    CHECK(iov[0].iov_len == 11);
  }

  TEST_CASE("Contiguous rotates wrapped data in place") {
    ByteRing ring;
    MakeWrapped(ring, 10);
    ring.Append(Pattern(30, 'A'));
    const std::string all = Joined(ring.Peek(ring.size()));
    absl::string_view prefix = ring.Contiguous(5);
    CHECK(prefix == all.substr(0, 5));
    absl::string_view whole = ring.Contiguous(ring.size());
    CHECK(whole == all);
    CHECK(ring.capacity() == 512);
    CHECK(ring.Peek(ring.size()).second.empty());
    CHECK(ring.Contiguous(1000) == all);
  }

  TEST_CASE("growing a wrapped ring keeps the byte order") {
    ByteRing ring;
    MakeWrapped(ring, 10);
    const std::string before = Joined(ring.Peek(ring.size()));
    ring.Append(Pattern(600, 'A'));
    CHECK(ring.capacity() == 1024);
    CHECK(Joined(ring.Peek(ring.size())) == before + Pattern(600, 'A'));
  }

  TEST_CASE("CopyOut copies at most what is there and discards it") {
    ByteRing ring;
    ring.Append("abcdef");
    char out[16] = {};
    CHECK(ring.CopyOut(out, 4) == 4);
    CHECK(std::string(out, 4) == "abcd");
    CHECK(ring.size() == 2);
    CHECK(ring.CopyOut(out, 16) == 2);
    CHECK(std::string(out, 2) == "ef");
    CHECK(ring.empty());
  }

  TEST_CASE("Reserve makes room without changing the contents") {
    ByteRing ring;
    ring.Reserve(2000);
    CHECK(ring.capacity() == 2048);
    CHECK(ring.empty());
    ring.Append(Pattern(2000));
    CHECK(ring.capacity() == 2048);
  }

  TEST_CASE("moving transfers the bytes and empties the source") {
    ByteRing a;
    a.Append("payload");
    ByteRing b(std::move(a));
    CHECK(Joined(b.Peek(100)) == "payload");
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move)
    CHECK(a.capacity() == 0);
    ByteRing c;
    c.Append("old");
    c = std::move(b);
    CHECK(Joined(c.Peek(100)) == "payload");
    CHECK(b.capacity() == 0);  // NOLINT(bugprone-use-after-move)
  }

  TEST_CASE("random operations match a std::string model") {
    std::mt19937 rng(20240601);
    ByteRing ring;
    std::string model;
    char next = 0;
    auto random_size = [&](size_t max) {
      return std::uniform_int_distribution<size_t>(0, max)(rng);
    };
    for (int step = 0; step < 20000; ++step) {
      CAPTURE(step);
      const int op = std::uniform_int_distribution<int>(0, 5)(rng);
      switch (op) {
        case 0: {  // Append: mostly small, sometimes large
          size_t n = random_size(rng() % 8 == 0 ? 5000 : 300);
          std::string bytes(n, ' ');
          for (char& c : bytes) c = next++;
          ring.Append(bytes);
          model += bytes;
          break;
        }
        case 1: {
          size_t n = random_size(model.size() + 10);
          CHECK(Joined(ring.Peek(n)) == model.substr(0, n));
          break;
        }
        case 2: {
          size_t n = random_size(model.size() + 10);
          CHECK(ring.Contiguous(n) == model.substr(0, n));
          break;
        }
        case 3: {
          size_t n = random_size(model.size() + 10);
          ring.Discard(n);
          model.erase(0, n);
          break;
        }
        case 4: {
          size_t n = random_size(model.size() + 10);
          std::string out(n, '\0');
          size_t got = ring.CopyOut(out.data(), n);
          REQUIRE(got == std::min(n, model.size()));
          CHECK(out.substr(0, got) == model.substr(0, got));
          model.erase(0, got);
          break;
        }
        case 5: {
          iovec iov[2];
          int count = ring.FillIovecs(iov, 2);
          std::string joined;
          for (int i = 0; i < count; ++i) {
            CHECK(iov[i].iov_len > 0);
            joined.append(static_cast<const char*>(iov[i].iov_base),
                          iov[i].iov_len);
          }
          CHECK(joined == model);
          break;
        }
      }
      REQUIRE(ring.size() == model.size());
      CHECK(ring.empty() == model.empty());
      const size_t cap = ring.capacity();
      if (model.empty()) {
        CHECK(cap == 0);
      } else {
        CHECK(cap >= ByteRing::kMinCapacity);
        CHECK((cap & (cap - 1)) == 0);
        CHECK(cap >= model.size());
      }
    }
  }
}

TEST_CASE("no file descriptors leak") {
  CHECK(testutil::CountOpenFds() == kFdsAtStart);
}

}  // namespace
}  // namespace actnet::io
