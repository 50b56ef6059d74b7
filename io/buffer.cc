#include "io/buffer.h"

#include <algorithm>
#include <cstring>

namespace actnet::io {

ByteRing::ByteRing(ByteRing&& other) noexcept
    : data_(std::move(other.data_)),
      capacity_(std::exchange(other.capacity_, 0)),
      head_(std::exchange(other.head_, 0)),
      size_(std::exchange(other.size_, 0)) {}

ByteRing& ByteRing::operator=(ByteRing&& other) noexcept {
  if (this != &other) {
    data_ = std::move(other.data_);
    capacity_ = std::exchange(other.capacity_, 0);
    head_ = std::exchange(other.head_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void ByteRing::Grow(size_t needed) {
  size_t cap = std::max(capacity_, kMinCapacity);
  while (cap < needed) cap *= 2;
  // Uninitialised on purpose: every byte read from the ring was written.
  std::unique_ptr<char[]> fresh = std::make_unique_for_overwrite<char[]>(cap);
  auto [first, second] = Peek(size_);
  if (!first.empty()) std::memcpy(fresh.get(), first.data(), first.size());
  if (!second.empty()) {
    std::memcpy(fresh.get() + first.size(), second.data(), second.size());
  }
  data_ = std::move(fresh);
  capacity_ = cap;
  head_ = 0;
}

void ByteRing::Reserve(size_t n) {
  if (size_ + n > capacity_) Grow(size_ + n);
}

void ByteRing::Append(const void* data, size_t n) {
  if (n == 0) return;
  Reserve(n);
  const char* src = static_cast<const char*>(data);
  const size_t tail = (head_ + size_) & Mask();
  const size_t first = std::min(n, capacity_ - tail);
  std::memcpy(data_.get() + tail, src, first);
  if (first < n) std::memcpy(data_.get(), src + first, n - first);
  size_ += n;
}

std::pair<absl::string_view, absl::string_view> ByteRing::Peek(
    size_t n) const {
  n = std::min(n, size_);
  if (n == 0) return {};
  const size_t first = std::min(n, capacity_ - head_);
  return {absl::string_view(data_.get() + head_, first),
          absl::string_view(data_.get(), n - first)};
}

absl::string_view ByteRing::Contiguous(size_t n) {
  n = std::min(n, size_);
  if (n == 0) return {};
  if (head_ + n > capacity_) {
    // Wrapped: rotate the whole ring so the readable bytes start at 0.
    std::rotate(data_.get(), data_.get() + head_, data_.get() + capacity_);
    head_ = 0;
  }
  return absl::string_view(data_.get() + head_, n);
}

void ByteRing::Discard(size_t n) {
  if (n >= size_) {
    Clear();
    return;
  }
  head_ = (head_ + n) & Mask();
  size_ -= n;
}

size_t ByteRing::CopyOut(void* dst, size_t n) {
  auto [first, second] = Peek(n);
  char* out = static_cast<char*>(dst);
  if (!first.empty()) std::memcpy(out, first.data(), first.size());
  if (!second.empty()) std::memcpy(out + first.size(), second.data(), second.size());
  const size_t copied = first.size() + second.size();
  Discard(copied);
  return copied;
}

int ByteRing::FillIovecs(struct iovec* iov, int max_iov) const {
  if (max_iov <= 0 || size_ == 0) return 0;
  auto [first, second] = Peek(size_);
  iov[0].iov_base = const_cast<char*>(first.data());
  iov[0].iov_len = first.size();
  if (second.empty() || max_iov < 2) return 1;
  iov[1].iov_base = const_cast<char*>(second.data());
  iov[1].iov_len = second.size();
  return 2;
}

void ByteRing::Clear() {
  data_.reset();
  capacity_ = 0;
  head_ = 0;
  size_ = 0;
}

}  // namespace actnet::io
