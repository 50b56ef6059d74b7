// CheckByteRing: io::ByteRing against a std::string model.

#include "fuzz/byte_ring_check.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/buffer.h"

namespace actnet::fuzz {
namespace {

enum Op : uint8_t {
  kAppend,
  kPeek,
  kContiguous,
  kDiscard,
  kCopyOut,
  kFillIovecs,
  kClear,
  kReserve,
  kMove,
  kOpCount,
};

constexpr size_t kMaxAppend = 4096;
// Appends that would take the ring past this are skipped: every operation
// compares the whole ring with the model, and growth and wrap-around behave
// the same at 64 KiB as at 64 MiB.
constexpr size_t kMaxSize = 64 * 1024;

// True if the two spans, one after the other, are exactly `want`.
bool Holds(std::pair<absl::string_view, absl::string_view> spans,
           absl::string_view want) {
  return spans.first.size() + spans.second.size() == want.size() &&
         want.substr(0, spans.first.size()) == spans.first &&
         want.substr(spans.first.size()) == spans.second;
}

class Checker {
 public:
  absl::Status Run(absl::string_view program) {
    size_t pos = 0;
    for (size_t step = 0; pos < program.size(); ++step) {
      const auto op = static_cast<Op>(static_cast<uint8_t>(program[pos++]) %
                                      kOpCount);
      size_t n = 0;
      if (op != kClear && op != kMove) {
        for (int i = 0; i < 2 && pos < program.size(); ++i, ++pos) {
          n |= size_t{static_cast<uint8_t>(program[pos])} << (8 * i);
        }
      }
      std::string problem = Apply(op, n);
      if (problem.empty()) problem = Invariants();
      if (!problem.empty()) {
        return absl::InternalError(
            absl::StrCat("operation ", step, " (op ", static_cast<int>(op),
                         ", n ", n, "): ", problem));
      }
    }
    return absl::OkStatus();
  }

 private:
  // Returns "" or what went wrong.
  std::string Apply(Op op, size_t n) {
    switch (op) {
      case kAppend:
        return Append(n % kMaxAppend);
      case kPeek: {
        auto [first, second] = ring_.Peek(n);
        const size_t want = std::min(n, model_.size());
        if (first.size() + second.size() != want) return "Peek length";
        if (first.empty() && !second.empty()) return "Peek second without first";
        if (!Holds({first, second}, absl::string_view(model_).substr(0, want))) {
          return "Peek bytes";
        }
        return "";
      }
      case kContiguous: {
        const absl::string_view view = ring_.Contiguous(n);
        if (view != absl::string_view(model_).substr(0, n)) {
          return "Contiguous bytes";
        }
        return "";
      }
      case kDiscard:
        ring_.Discard(n);
        model_.erase(0, n);
        return Drained();
      case kCopyOut: {
        std::string out(n, '\0');
        const size_t got = ring_.CopyOut(out.data(), n);
        out.resize(got);
        if (got != std::min(n, model_.size())) return "CopyOut count";
        if (model_.compare(0, got, out) != 0) return "CopyOut bytes";
        model_.erase(0, got);
        return Drained();
      }
      case kFillIovecs:
        return FillIovecs(static_cast<int>(n % 4));
      case kClear:
        ring_.Clear();
        model_.clear();
        if (ring_.capacity() != 0) return "Clear kept memory";
        asked_ = 0;
        return "";
      case kReserve: {
        n %= kMaxAppend;
        if (model_.size() + n > kMaxSize) return "";
        ring_.Reserve(n);
        asked_ = std::max(asked_, model_.size() + n);
        if (ring_.capacity() < model_.size() + n) return "Reserve too small";
        return "";
      }
      case kMove: {
        io::ByteRing moved(std::move(ring_));
        if (ring_.size() != 0 || ring_.capacity() != 0) {
          return "moved-from ring is not empty";
        }
        ring_ = std::move(moved);
        if (moved.size() != 0 || moved.capacity() != 0) {
          return "moved-from ring is not empty after assignment";
        }
        return "";
      }
      case kOpCount:
        break;
    }
    return "unknown operation";
  }

  std::string Append(size_t n) {
    if (model_.size() + n > kMaxSize) return "";
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(counter_++ % 251);
    const size_t capacity = ring_.capacity();
    const bool reserved = model_.size() + n <= capacity;
    ring_.Append(bytes);
    model_ += bytes;
    asked_ = std::max(asked_, model_.size());
    if (reserved && ring_.capacity() != capacity) {
      return "Append grew a ring that had room";
    }
    return "";
  }

  std::string FillIovecs(int max_iov) {
    // One spare slot on each side catches writes past max_iov.
    struct iovec iov[6] = {};
    const int filled = ring_.FillIovecs(iov + 1, max_iov);
    if (filled < 0 || filled > std::min(max_iov, 2)) return "FillIovecs count";
    if ((filled == 0) != (model_.empty() || max_iov == 0)) {
      return "FillIovecs filled nothing, or something from nothing";
    }
    for (int i = 0; i < 6; ++i) {
      if ((i == 0 || i > filled) && iov[i].iov_base != nullptr) {
        return "FillIovecs wrote outside the iovecs it reported";
      }
    }
    std::string joined;
    for (int i = 1; i <= filled; ++i) {
      if (iov[i].iov_len == 0) return "FillIovecs empty iovec";
      joined.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    if (model_.compare(0, joined.size(), joined) != 0) {
      return "FillIovecs bytes";
    }
    if (max_iov >= 2 && joined.size() != model_.size()) {
      return "FillIovecs did not cover every byte";
    }
    return "";
  }

  // A ring drained by Discard or CopyOut holds no memory.
  std::string Drained() {
    if (model_.empty()) {
      if (ring_.capacity() != 0) return "drained ring kept its memory";
      asked_ = 0;
    }
    return "";
  }

  std::string Invariants() const {
    if (ring_.size() != model_.size()) {
      return absl::StrCat("size ", ring_.size(), " != model ", model_.size());
    }
    if (ring_.empty() != model_.empty()) return "empty() is wrong";
    const size_t cap = ring_.capacity();
    if (cap != 0) {
      if ((cap & (cap - 1)) != 0) return absl::StrCat("capacity ", cap);
      if (cap < io::ByteRing::kMinCapacity) return "capacity below minimum";
      if (cap < ring_.size()) return "capacity below size";
      if (cap > std::max(io::ByteRing::kMinCapacity, 2 * asked_)) {
        return absl::StrCat("capacity ", cap, " for at most ", asked_,
                            " bytes asked");
      }
    } else if (!model_.empty()) {
      return "bytes without memory";
    }
    if (!Holds(ring_.Peek(ring_.size()), model_)) return "contents differ";
    return "";
  }

  io::ByteRing ring_;
  std::string model_;
  size_t asked_ = 0;  // most bytes needed at once since memory was released
  uint64_t counter_ = 0;
};

}  // namespace

absl::Status CheckByteRing(absl::string_view input) {
  return Checker().Run(input);
}

}  // namespace actnet::fuzz
