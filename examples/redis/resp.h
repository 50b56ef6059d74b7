// RESP2: an incremental request parser and the reply encoders.
//
// RespParser turns the bytes a client sent into commands, one at a time,
// without copying: the arguments of a multibulk request are views into the
// caller's buffer. It accepts both request forms Redis does: multibulk
// (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline (`GET k\r\n`, with Redis's
// quoting rules). It is incremental: a request cut anywhere is resumed
// where parsing stopped when more bytes arrive, and a bulk whose length is
// known is not re-scanned until all of it is there. Every length is checked
// against a limit before anything is reserved, so hostile input costs at
// most the limits, and is answered with Redis's "Protocol error" text.
//
// Not thread-safe; one parser per connection.
#ifndef ACTNET_EXAMPLES_REDIS_RESP_H_
#define ACTNET_EXAMPLES_REDIS_RESP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace actnet::redis {

struct RespLimits {
  // Largest bulk string accepted (Redis's proto-max-bulk-len is 512 MiB).
  size_t max_bulk = 64 << 20;
  // Most arguments in one multibulk request (Redis: 1024 * 1024).
  size_t max_args = 1 << 20;
  // Longest inline request, and longest `*`/`$` header line (Redis: 64 KiB).
  size_t max_inline = 64 << 10;
};

class RespParser {
 public:
  enum class Result {
    kCommand,   // args() holds a request; consumed() bytes belong to it
    kNeedMore,  // the request is incomplete: call again with more bytes
    kError,     // malformed: error() is the reply line; close afterwards
  };

  explicit RespParser(RespLimits limits = {}) : limits_(limits) {}

  // Parses the request at the start of `in`. `in` must begin where the
  // current request begins: after kCommand the caller drops consumed()
  // bytes before the next call; after kNeedMore it passes the same bytes
  // again followed by new ones. On kCommand, args() stay valid as long as
  // `in`'s bytes do. An empty request (blank inline line, `*0`) is a
  // kCommand with no args: Redis answers nothing to it.
  Result Parse(absl::string_view in);

  const std::vector<absl::string_view>& args() const { return args_; }
  size_t consumed() const { return consumed_; }
  // The error reply, without "-" and CRLF, e.g. "ERR Protocol error: ...".
  const std::string& error() const { return error_; }
  // Bytes `in` must have before Parse can make progress (0: unknown).
  size_t wanted() const { return wanted_; }

 private:
  Result ParseMultibulk(absl::string_view in);
  Result ParseInline(absl::string_view in);
  // Reads a "<prefix><integer>\r\n" line at pos_; false if incomplete.
  // Sets error_ and returns true with ok=false when it is malformed.
  bool ReadLength(absl::string_view in, char prefix, int64_t* value, bool* ok);
  Result Fail(std::string message);
  void Reset();

  RespLimits limits_;
  // Progress through the current request (offsets from its first byte).
  size_t pos_ = 0;
  int64_t expected_ = -1;   // arguments announced by '*', -1 before it
  int64_t bulk_len_ = -1;   // length of the bulk being read, -1 before '$'
  std::vector<std::pair<size_t, size_t>> spans_;  // (offset, length)
  std::vector<absl::string_view> args_;
  std::string inline_storage_;  // unquoted inline arguments
  size_t consumed_ = 0;
  size_t wanted_ = 0;
  std::string error_;
};

// Splits an inline request line the way Redis does (whitespace separated,
// "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single quotes'
// with \'). Appends the unquoted arguments to `storage` and their
// (offset, length) in it to `spans`. False on unbalanced quotes.
bool SplitInline(absl::string_view line, std::string* storage,
                 std::vector<std::pair<size_t, size_t>>* spans);

// ---- Reply encoders (append to `out`) ----
void AppendSimple(std::string* out, absl::string_view s);  // +s
void AppendError(std::string* out, absl::string_view s);   // -s
void AppendInt(std::string* out, int64_t v);               // :v
void AppendBulk(std::string* out, absl::string_view s);    // $n s
void AppendNil(std::string* out);                          // $-1
void AppendNilArray(std::string* out);                     // *-1
void AppendArray(std::string* out, int64_t n);             // *n

inline constexpr absl::string_view kOk = "+OK\r\n";

}  // namespace actnet::redis

#endif  // ACTNET_EXAMPLES_REDIS_RESP_H_
