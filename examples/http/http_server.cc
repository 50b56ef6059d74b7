#include "examples/http/http_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace actnet::http {
namespace {

constexpr absl::string_view kHello = "Hello, World!";
constexpr size_t kKeepCapacity = 64 * 1024;  // per-connection buffers kept

// Static files are read into one buffer per thread (co-hosted loops take
// turns on it) and copied out by the response write before the next read,
// so a connection keeps no file-sized buffer and none is zero-filled or
// mapped afresh per request. It keeps the size of the largest file served.
struct FileBuffer {
  std::unique_ptr<char[]> data;
  size_t capacity = 0;
  char* Reserve(size_t n) {
    if (n > capacity) {
      data = std::make_unique_for_overwrite<char[]>(n);
      capacity = n;
    }
    return data.get();
  }
};
thread_local FileBuffer t_file;

absl::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// http_parser's header limit is process-wide; set it once, thread-safely.
void LimitHeaders() {
  static const bool done = [] {
    http_parser_set_max_header_size(kMaxHeaderBytes);
    return true;
  }();
  (void)done;
}

class HttpHandler final : public Handler {
 public:
  HttpHandler(size_t max_body, const DateCache* dates,
              const std::string* static_dir)
      : session_(max_body, dates, static_dir) {}
  Action OnData(Conn& conn) override {
    const bool open = session_.Feed(
        conn.Next(), [&conn](absl::string_view bytes) { conn.Write(bytes); });
    return open ? Action::kNone : Action::kClose;
  }

 private:
  Session session_;
};

}  // namespace

std::array<char, kDateSize> FormatDate(absl::Time t) {
  const std::string s =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
  std::array<char, kDateSize> out{};
  std::memcpy(out.data(), s.data(), std::min(s.size(), out.size()));
  return out;
}

DateCache::DateCache(absl::Time now) {
  const auto d = FormatDate(now);
  SetDate({d.data(), d.size()});
}

void DateCache::SetDate(absl::string_view date) {
  std::memcpy(date_.data(), date.data(), std::min(date.size(), date_.size()));
  plaintext_.clear();  // same length every second: no reallocation
  absl::StrAppend(&plaintext_,
                  "HTTP/1.1 200 OK\r\nServer: actnet\r\n"
                  "Content-Type: text/plain\r\nContent-Length: ",
                  kHello.size(), "\r\nDate: ", this->date(), "\r\n\r\n", kHello);
}

const http_parser_settings Session::kSettings = [] {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = &Session::OnMessageBegin;
  s.on_url = &Session::OnUrl;
  s.on_headers_complete = &Session::OnHeadersComplete;
  s.on_body = &Session::OnBody;
  s.on_message_complete = &Session::OnMessageComplete;
  return s;
}();

Session::Session(size_t max_body, const DateCache* dates,
                 const std::string* static_dir)
    : max_body_(max_body),
      dates_(dates),
      static_dir_(static_dir != nullptr && !static_dir->empty() ? static_dir
                                                                 : nullptr) {
  LimitHeaders();
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

bool Session::Feed(absl::string_view in, Sink out) {
  if (closed_) return false;
  if (in.empty()) return true;  // to http_parser, no bytes would mean EOF
  out_ = &out;
  http_parser_execute(&parser_, &kSettings, in.data(), in.size());
  out_ = nullptr;
  if (closed_) return false;  // a response said "Connection: close"
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_OK) return true;
  const int status = refusal_ != 0                ? refusal_
                     : err == HPE_HEADER_OVERFLOW ? 431
                                                  : 400;
  Reply(status, absl::StrCat(Reason(status), "\n"), /*keep_alive=*/false);
  out(scratch_);
  closed_ = true;
  return false;
}

int Session::OnMessageBegin(http_parser* p) {
  Session& s = *static_cast<Session*>(p->data);
  s.url_.clear();
  s.body_.clear();
  s.body_bytes_ = 0;
  return 0;
}

int Session::OnUrl(http_parser* p, const char* at, size_t n) {
  static_cast<Session*>(p->data)->url_.append(at, n);
  return 0;
}

int Session::OnHeadersComplete(http_parser* p) {
  Session& s = *static_cast<Session*>(p->data);
  // Content-Length is ULLONG_MAX when absent (no body, or chunked).
  if (p->http_major != 1) {
    s.refusal_ = 505;
    return -1;
  }
  if (p->content_length != ULLONG_MAX && p->content_length > s.max_body_) {
    s.refusal_ = 413;
    return -1;
  }
  absl::string_view path = s.url_;
  path = path.substr(0, path.find('?'));
  const auto method = static_cast<http_method>(p->method);
  if (path == "/" || path == "/plaintext") {
    s.route_ = method == HTTP_GET ? Route::kHello : Route::kMethodNotAllowed;
  } else if (path == "/echo") {
    s.route_ = method == HTTP_POST ? Route::kEcho : Route::kMethodNotAllowed;
  } else if (s.static_dir_ != nullptr && method == HTTP_GET) {
    s.route_ = Route::kStatic;
  } else {
    s.route_ = Route::kNotFound;
  }
  return 0;
}

int Session::OnBody(http_parser* p, const char* at, size_t n) {
  Session& s = *static_cast<Session*>(p->data);
  s.body_bytes_ += n;
  if (s.body_bytes_ > s.max_body_) {  // chunked bodies end up here
    s.refusal_ = 413;
    return -1;
  }
  if (s.route_ == Route::kEcho) s.body_.append(at, n);
  return 0;
}

int Session::OnMessageComplete(http_parser* p) {
  Session& s = *static_cast<Session*>(p->data);
  s.Respond();
  if (s.closed_) http_parser_pause(p, 1);  // ignore what follows
  return 0;
}

void Session::Respond() {
  // No upgrade (WebSocket, CONNECT) is supported: answer, then close.
  const bool keep = http_should_keep_alive(&parser_) != 0 && !parser_.upgrade;
  const bool http11 = parser_.http_major == 1 && parser_.http_minor == 1;
  const Sink& out = *out_;
  closed_ = !keep;
  switch (route_) {
    case Route::kHello:
      if (keep && http11) {
        out(dates_->plaintext());  // the hot path: one canned response
        return;
      }
      Reply(200, kHello, keep);
      break;
    case Route::kEcho:
      Head(200, body_.size(), keep, "application/octet-stream");
      out(scratch_);
      out(body_);
      if (body_.capacity() > kKeepCapacity) std::string().swap(body_);
      return;
    case Route::kStatic: {
      absl::string_view contents;
      if (!ReadStatic(&contents)) {
        Reply(404, "Not Found\n", keep);
        break;
      }
      Head(200, contents.size(), keep, "application/octet-stream");
      out(scratch_);
      out(contents);
      return;
    }
    case Route::kNotFound:
      Reply(404, "Not Found\n", keep);
      break;
    case Route::kMethodNotAllowed:
      Reply(405, "Method Not Allowed\n", keep);
      break;
  }
  out(scratch_);
}

void Session::Head(int status, size_t length, bool keep_alive,
                   absl::string_view content_type) {
  const bool http10 = parser_.http_major == 1 && parser_.http_minor == 0;
  scratch_.clear();
  absl::StrAppend(&scratch_, "HTTP/1.1 ", status, " ", Reason(status),
                  "\r\nServer: actnet\r\nDate: ", dates_->date(),
                  "\r\nContent-Type: ", content_type, "\r\n");
  absl::StrAppend(&scratch_,
                  !keep_alive ? "Connection: close\r\n"
                  : http10    ? "Connection: keep-alive\r\n"
                              : "",
                  "Content-Length: ", length, "\r\n\r\n");
}

bool Session::ReadStatic(absl::string_view* contents) {
  absl::string_view path = url_;
  path = path.substr(0, path.find('?'));
  if (path.size() < 2 || path[0] != '/' || absl::StrContains(path, "..") ||
      absl::StrContains(path, "//")) {
    return false;
  }
  const std::string file = absl::StrCat(*static_dir_, path);
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    const auto size = static_cast<size_t>(st.st_size);
    char* buf = t_file.Reserve(size);
    size_t done = 0;
    while (ok && done < size) {
      const ssize_t n = read(fd, buf + done, size - done);
      if (n <= 0) ok = false;
      else done += static_cast<size_t>(n);
    }
    if (ok) *contents = absl::string_view(buf, size);
  }
  close(fd);
  return ok;
}

void Session::Reply(int status, absl::string_view body, bool keep_alive) {
  Head(status, body.size(), keep_alive, "text/plain");
  scratch_.append(body.data(), body.size());
}

Server::Server(Engine& engine, ServerOptions options)
    : engine_(engine), options_(options) {
  for (int i = 0; i < engine.options().loops; ++i) {
    caches_.push_back(std::make_unique<DateCache>());
  }
}

absl::Status Server::Listen(absl::string_view url) {
  const size_t max_body = options_.max_body;
  absl::Status s = engine_.Listen(url, [this, max_body] {
    // The factory runs on the connection's loop.
    const EventLoop* loop = EventLoop::Current();
    return std::make_unique<HttpHandler>(
        max_body, caches_[loop != nullptr ? loop->index() : 0].get(),
        &options_.static_dir);
  });
  if (s.ok() && !ticking_) {
    ticking_ = true;
    engine_.SetOnTick([this](Engine&) { return Tick(); });
  }
  return s;
}

absl::Duration Server::Tick() {
  const absl::Time now = absl::Now();
  const std::array<char, kDateSize> date = FormatDate(now);
  for (size_t i = 0; i < caches_.size(); ++i) {
    // 37 bytes of captures: the message travels inline, no allocation. A
    // full mailbox just skips this second.
    (void)engine_.Post(static_cast<uint32_t>(i),
                       [cache = caches_[i].get(), date](EventLoop&) {
                         cache->SetDate({date.data(), date.size()});
                       });
  }
  // Land just after the next whole second.
  const absl::Duration into = now - absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  return absl::Seconds(1) - into + absl::Milliseconds(1);
}

}  // namespace actnet::http
