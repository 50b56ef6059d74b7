// StreamConn, the write side: gathered writes, the outbound queue, what
// follows output (completions, the pending close or FIN, back-pressure).
#include <sys/uio.h>

#include <algorithm>
#include <utility>

#include "actors/stream_conn.h"

namespace actnet::internal {

void StreamConn::Write(absl::string_view data) {
  AssertOnLoop();
  if (state_ != State::kOpen || write_ != WriteSide::kOpen || data.empty())
    return;
  bytes_queued_ += data.size();
  if (!gathering() || !out_.empty()) {
    out_.Append(data);
    ScheduleFlush();
    return;
  }
  const bool lent = IsLent(data);
  const bool now = !lent && data.size() >= kSendAtOnce;
  // Sent now, so the caller's bytes may be referenced until it returns.
  ctx_->gather.Add(data, lent || now);
  if (now) {
    const int err = SendGathered();
    if (err != 0 && deferred_send_err_ == 0) deferred_send_err_ = err;
  }
}

void StreamConn::Flush() {
  AssertOnLoop();
  if (gathering()) FlushGather();
  FlushQueued();
}

void StreamConn::ScheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  ctx_->flush_list.push_back(this);
}

// What the handler wrote goes out in one writev (or a few, past
// WriteGather::kMaxIov pieces); what the socket does not take is queued.
void StreamConn::FlushGather() {
  if (state_ == State::kClosed) ctx_->gather.Clear();  // never another's bytes
  int err = SendGathered();
  if (err == 0) err = std::exchange(deferred_send_err_, 0);
  if (err != 0) {
    CloseNow(CloseReason{CloseReason::Kind::kError, err});
    return;
  }
  AfterOutput();
}

int StreamConn::SendGathered() {
  WriteGather& gather = ctx_->gather;
  if (gather.empty()) return 0;
  if (const absl::string_view whole = gather.Whole(); !whole.empty()) {
    iovec iov{const_cast<char*>(whole.data()), whole.size()};
    const ssize_t n = SendBytes(&iov, 1);
    if (n < 0) {
      gather.Clear();
      return static_cast<int>(-n);
    }
    if (static_cast<size_t>(n) < whole.size()) {
      out_.Append(whole.substr(static_cast<size_t>(n)));
    }
    gather.Clear();
    return 0;
  }
  while (!gather.empty()) {
    iovec iov[WriteGather::kMaxIov];
    size_t total = 0;
    const int count = gather.Fill(iov, WriteGather::kMaxIov, &total);
    if (count == 0) break;
    const ssize_t n = SendBytes(iov, count);
    if (n < 0) {
      gather.Clear();
      return static_cast<int>(-n);
    }
    gather.Consume(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < total) break;  // the socket is full
  }
  gather.ForEachUnsent([this](absl::string_view rest) { out_.Append(rest); });
  gather.Clear();
  return 0;
}

void StreamConn::FlushQueued() {
  if (state_ == State::kClosed) return;
  while (!out_.empty()) {
    iovec iov[2];
    const int count = out_.FillIovecs(iov, 2);
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    const ssize_t n = SendBytes(iov, count);
    if (n < 0) {
      CloseNow(CloseReason{CloseReason::Kind::kError, static_cast<int>(-n)});
      return;
    }
    out_.Discard(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < total) break;
  }
  AfterOutput();
}

void StreamConn::OnSendReady() {
  if (state_ != State::kClosed) FlushAndNotify();
}

void StreamConn::FlushAndNotify() {
  FlushQueued();
  if (backlogged_ && Queued() == 0 && state_ == State::kOpen) {
    backlogged_ = false;
    RunHandler([this] { return handler_->OnDrain(*this); });
  }
}

void StreamConn::AfterOutput() {
  if (state_ == State::kClosed) return;
  CompleteWrites();
  if (state_ == State::kClosed) return;  // a completion closed it
  const size_t queued = Queued();
  if (queued == 0 && !gathering()) {
    if (state_ == State::kClosing) {
      FinishClose();
      return;
    }
    if (write_ == WriteSide::kShutdownPending && state_ == State::kOpen) {
      write_ = WriteSide::kShut;
      const int r = ShutdownBytes();
      if (r != 0) {
        CloseNow(CloseReason{CloseReason::Kind::kError, -r});
        return;
      }
    }
  }
  const EngineOptions& o = *ctx_->options;
  if (!back_pressure_ && queued > o.write_high_water) {
    back_pressure_ = true;
  } else if (back_pressure_ && queued <= o.write_low_water) {
    back_pressure_ = false;
  }
  if (queued != 0) backlogged_ = true;
  UpdateReading();
}

void StreamConn::UpdateReading() {
  // Connecting (a TLS handshake included): the backend keeps reading.
  if (state_ == State::kConnecting) return;
  io::Reading want = io::Reading::kOn;
  if (state_ == State::kLingering) {
    want = io::Reading::kOn;  // read and discard until the peer's FIN
  } else if (state_ != State::kOpen || read_ == ReadSide::kEof) {
    want = io::Reading::kOff;
  } else if (user_paused_ || back_pressure_) {
    want = io::Reading::kPaused;
  }
  if (want == reading_) return;
  reading_ = want;
  ctx_->backend->SetReading(handle_, want);
  if (want == io::Reading::kOn && held_data_ && state_ == State::kOpen)
    DeliverHeld();
}

void StreamConn::ShutdownWrite() {
  AssertOnLoop();
  if (state_ != State::kOpen || write_ != WriteSide::kOpen) return;
  if (read_ == ReadSide::kEof) {  // both directions done: an ordinary close
    Close();
    return;
  }
  write_ = WriteSide::kShutdownPending;
  AfterOutput();  // sends the FIN now if nothing is queued
}

// ---------------------------------------------------------------------------
// WriteGather.

void WriteGather::Add(absl::string_view data, bool lent) {
  if (lent) {
    chunks_.push_back(Chunk{data.data(), 0, data.size()});
    return;
  }
  const size_t offset = bytes_.size();
  bytes_.append(data.data(), data.size());
  if (!chunks_.empty() && chunks_.back().lent == nullptr) {
    chunks_.back().size += data.size();  // contiguous in bytes_
  } else {
    chunks_.push_back(Chunk{nullptr, offset, data.size()});
  }
}

int WriteGather::Fill(iovec* iov, int max, size_t* total) const {
  int count = 0;
  *total = 0;
  for (size_t i = done_; i < chunks_.size() && count < max; ++i) {
    absl::string_view c = View(i);
    if (i == done_) c.remove_prefix(partial_);
    iov[count].iov_base = const_cast<char*>(c.data());
    iov[count].iov_len = c.size();
    *total += c.size();
    ++count;
  }
  return count;
}

void WriteGather::Consume(size_t n) {
  while (n > 0 && done_ < chunks_.size()) {
    const size_t rest = chunks_[done_].size - partial_;
    if (n >= rest) {
      n -= rest;
      ++done_;
      partial_ = 0;
    } else {
      partial_ += n;
      n = 0;
    }
  }
  if (done_ == chunks_.size()) Clear();
}

void WriteGather::Clear() {
  chunks_.clear();
  bytes_.clear();
  done_ = 0;
  partial_ = 0;
  // A burst may have grown it: keep a working size, not the peak.
  constexpr size_t kRetain = 1 << 20;
  if (bytes_.capacity() > kRetain) bytes_.shrink_to_fit();
}

}  // namespace actnet::internal
