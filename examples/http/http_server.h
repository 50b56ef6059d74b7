// HTTP/1.1 on actnet, with Node's http_parser.
//
// Session is one connection's parser and responder. It knows nothing of
// sockets: it parses the bytes it is fed and hands each response, in
// request order, to a sink, so the handler writes every response of one
// read inside one handler call (the engine sends them in one writev) and
// tests can drive it with plain strings.
//
// DateCache holds what changes once a second: the Date header and the
// whole canned "Hello, World!" response. There is one per loop, written and
// read only by that loop's thread (Server's engine tick posts each loop its
// new date as a message), so no memory is shared between loops.
//
// Server ties them to an Engine. It must outlive the engine's run.
#ifndef ACTNET_EXAMPLES_HTTP_HTTP_SERVER_H_
#define ACTNET_EXAMPLES_HTTP_HTTP_SERVER_H_

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actnet.h"
#include "http_parser.h"

namespace actnet::http {

// A request line plus headers longer than this is answered 431.
inline constexpr size_t kMaxHeaderBytes = 8 * 1024;
inline constexpr size_t kDateSize = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

// `t` as an RFC 7231 IMF-fixdate.
std::array<char, kDateSize> FormatDate(absl::Time t);

// Loop-only (see above); the owner's thread before the engine starts.
class DateCache {
 public:
  explicit DateCache(absl::Time now = absl::Now());
  void SetDate(absl::string_view date);
  absl::string_view date() const { return {date_.data(), date_.size()}; }
  // The complete HTTP/1.1 keep-alive response to GET /plaintext.
  absl::string_view plaintext() const { return plaintext_; }

 private:
  std::array<char, kDateSize> date_;
  std::string plaintext_;
};

class Session {
 public:
  using Sink = absl::FunctionRef<void(absl::string_view)>;

  // `static_dir` (optional, outlives the session): GET of a file under it.
  Session(size_t max_body, const DateCache* dates,
          const std::string* static_dir = nullptr);
  Session(const Session&) = delete;  // the parser points back at us
  Session& operator=(const Session&) = delete;

  // Parses all of `in`, passing responses to `out`. Returns false once the
  // connection must close (its last response has been passed to `out`);
  // later calls then ignore their input.
  bool Feed(absl::string_view in, Sink out);

 private:
  enum class Route { kHello, kEcho, kStatic, kNotFound, kMethodNotAllowed };

  static int OnMessageBegin(http_parser* p);
  static int OnUrl(http_parser* p, const char* at, size_t n);
  static int OnHeadersComplete(http_parser* p);
  static int OnBody(http_parser* p, const char* at, size_t n);
  static int OnMessageComplete(http_parser* p);
  static const http_parser_settings kSettings;

  void Respond();
  // Builds a response head (or a whole text/plain response) in scratch_.
  void Head(int status, size_t length, bool keep_alive,
            absl::string_view content_type);
  void Reply(int status, absl::string_view body, bool keep_alive);
  // Reads the file under static_dir named by url_ into this thread's file
  // buffer; *contents views it until the next ReadStatic on this thread.
  // False if there is no such file.
  bool ReadStatic(absl::string_view* contents);

  http_parser parser_;
  const size_t max_body_;
  const DateCache* dates_;
  const std::string* static_dir_;
  const Sink* out_ = nullptr;  // during Feed
  Route route_ = Route::kNotFound;
  int refusal_ = 0;  // 413 or 505, found by a callback
  bool closed_ = false;
  size_t body_bytes_ = 0;
  std::string url_;
  std::string body_;     // POST /echo
  std::string scratch_;  // response headers, reused
};

struct ServerOptions {
  size_t max_body = 1 << 20;
  // Non-empty: GET /a/b serves the regular file <static_dir>/a/b (no "..").
  std::string static_dir;
};

class Server {
 public:
  // `engine` fixes the number of loops; it must not have started.
  Server(Engine& engine, ServerOptions options = {});
  // Before Start: serves HTTP on `url`. The first call also installs the
  // engine tick that refreshes every loop's date.
  absl::Status Listen(absl::string_view url);

 private:
  absl::Duration Tick();

  Engine& engine_;
  ServerOptions options_;
  std::vector<std::unique_ptr<DateCache>> caches_;  // by loop
  bool ticking_ = false;
};

}  // namespace actnet::http

#endif  // ACTNET_EXAMPLES_HTTP_HTTP_SERVER_H_
