// ByteRing is the elastic byte ring each connection keeps for inbound bytes
// its handler has not consumed yet and for outbound bytes the socket has not
// taken yet. It owns its memory: nothing until the first Append, then a
// power-of-two capacity (at least 512 bytes) that doubles to fit, and
// nothing again once the ring is drained, so idle connections hold no
// buffer memory. Readable bytes come back as at most two spans (the second
// is non-empty only when the data wraps around the end).
// Loop thread only: a ByteRing belongs to one connection and is touched
// only by that connection's loop. Views it returns stay valid until the
// next non-const call.

#ifndef ACTNET_IO_BUFFER_H_
#define ACTNET_IO_BUFFER_H_

#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <utility>

#include "absl/strings/string_view.h"

namespace actnet::io {

class ByteRing {
 public:
  static constexpr size_t kMinCapacity = 512;

  ByteRing() = default;
  ByteRing(ByteRing&& other) noexcept;
  ByteRing& operator=(ByteRing&& other) noexcept;
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }

  // Copies `n` bytes in at the end, growing the ring if needed.
  void Append(const void* data, size_t n);
  void Append(absl::string_view s) { Append(s.data(), s.size()); }

  // Makes room for `n` more bytes without changing size(), so a following
  // Append of up to `n` bytes does not allocate.
  void Reserve(size_t n);

  // The first min(n, size()) bytes as at most two spans; the second is empty
  // unless the bytes wrap around the end of the ring.
  std::pair<absl::string_view, absl::string_view> Peek(size_t n) const;

  // Makes the first min(n, size()) bytes contiguous and returns them. Free
  // when they already are; otherwise rotates the ring in place (O(capacity),
  // no allocation).
  absl::string_view Contiguous(size_t n);

  // Drops the first n bytes (all of them when n >= size()). When the ring
  // becomes empty its memory is released.
  void Discard(size_t n);

  // Copies up to `n` bytes into `dst`, discards them and returns the count.
  size_t CopyOut(void* dst, size_t n);

  // Fills up to min(2, max_iov) iovecs covering the readable bytes (with
  // max_iov == 1 only the first span) and returns how many were filled.
  int FillIovecs(struct iovec* iov, int max_iov) const;

  // Discards everything and releases the memory.
  void Clear();

 private:
  size_t Mask() const { return capacity_ - 1; }
  void Grow(size_t needed);

  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;  // 0 or a power of two
  size_t head_ = 0;      // index of the first readable byte, < capacity_
  size_t size_ = 0;
};

}  // namespace actnet::io

#endif  // ACTNET_IO_BUFFER_H_
