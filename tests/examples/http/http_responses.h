// Splits a byte stream from examples/http into responses (framed by their
// Content-Length, which the server always sends), for the HTTP tests.
#ifndef ACTNET_TESTS_EXAMPLES_HTTP_HTTP_RESPONSES_H_
#define ACTNET_TESTS_EXAMPLES_HTTP_HTTP_RESPONSES_H_

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace actnet::testing {

struct Response {
  int status = 0;
  std::string head;  // status line and headers, each line ending in CRLF
  std::string body;
  bool Has(absl::string_view header) const {
    return absl::StrContains(head, absl::StrCat("\r\n", header, "\r\n"));
  }
};

// Removes the complete responses at the front of `*in` and returns them.
inline std::vector<Response> TakeResponses(std::string* in) {
  std::vector<Response> out;
  for (;;) {
    const size_t end = in->find("\r\n\r\n");
    if (end == std::string::npos) break;
    Response r;
    r.head = in->substr(0, end + 2);
    static constexpr char kLength[] = "\r\nContent-Length: ";
    const size_t at = r.head.find(kLength);
    if (at == std::string::npos || r.head.size() < 12) break;
    const size_t length = std::strtoul(r.head.c_str() + at + sizeof(kLength) - 1, nullptr, 10);
    if (in->size() < end + 4 + length) break;
    r.status = std::atoi(r.head.c_str() + 9);  // "HTTP/1.1 200"
    r.body = in->substr(end + 4, length);
    in->erase(0, end + 4 + length);
    out.push_back(std::move(r));
  }
  return out;
}

// True once `in` holds `n` complete responses.
inline bool HasResponses(absl::string_view in, size_t n) {
  std::string copy(in);
  return TakeResponses(&copy).size() >= n;
}

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_EXAMPLES_HTTP_HTTP_RESPONSES_H_
