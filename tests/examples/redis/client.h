// A blocking RESP test client over loopback TCP (a testutil::Client that
// frames replies), and a reference model: every test sends raw bytes and
// compares replies byte for byte. Every call has a deadline, so a server
// that never answers fails the test instead of hanging it. Test-only; one
// thread per client.
#ifndef ACTNET_TESTS_EXAMPLES_REDIS_CLIENT_H_
#define ACTNET_TESTS_EXAMPLES_REDIS_CLIENT_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/testing/client.h"

namespace actnet::redis::testing {

// A multibulk request.
std::string Cmd(std::initializer_list<absl::string_view> args);
std::string Cmd(const std::vector<std::string>& args);

// The size of the complete RESP reply at the start of `buf`, or 0.
size_t ReplyLength(absl::string_view buf);

class Client {
 public:
  // Connects to 127.0.0.1:port; ok() tells whether it worked.
  explicit Client(int port);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool ok() const { return sock_.valid(); }
  bool Send(absl::string_view bytes);
  // Sends FIN: the client will send nothing more, and still reads.
  void ShutdownWrite();
  // Reads `n` complete replies and returns their bytes; fewer on EOF or
  // after the deadline.
  std::string ReadReplies(size_t n, int timeout_ms = 20000);
  std::string ReadReply(int timeout_ms = 20000) { return ReadReplies(1, timeout_ms); }
  // Reads exactly `size` bytes (fewer on EOF or deadline).
  std::string ReadBytes(size_t size, int timeout_ms = 20000);
  // Waits for the peer to close; returns false on deadline. Bytes read on
  // the way are appended to *rest.
  bool WaitClosed(std::string* rest, int timeout_ms = 20000);
  // Sends a request and returns its single reply.
  std::string Call(std::initializer_list<absl::string_view> args);

 private:
  // Reads more into buf_; false on EOF, error or deadline.
  bool Fill(testutil::Clock::time_point deadline);

  testutil::Client sock_;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace actnet::redis::testing

#endif  // ACTNET_TESTS_EXAMPLES_REDIS_CLIENT_H_
