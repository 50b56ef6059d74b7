#include "tests/examples/http/server_process.h"

#include <sys/wait.h>

#include <cstdio>

namespace actnet::testing {

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (f == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) result.output.append(buf, n);
  const int status = ::pclose(f);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool ReadToEnd(testutil::Client& client, std::string* out, Clock::duration timeout) {
  const testutil::End end = client.RecvUntilClosed(out, nullptr, After(timeout));
  return end == testutil::End::kEof || end == testutil::End::kReset;
}

}  // namespace actnet::testing
