#include "actors/options.h"

namespace actnet {

absl::string_view IoBackendName(IoBackend backend) {
  switch (backend) {
    case IoBackend::kEpoll:
      return "epoll";
    case IoBackend::kIoUring:
      return "io_uring";
    case IoBackend::kAuto:
      return "auto";
  }
  return "unknown";
}

bool ParseIoBackend(absl::string_view text, IoBackend* backend) {
  for (IoBackend b : {IoBackend::kEpoll, IoBackend::kIoUring, IoBackend::kAuto}) {
    if (text == IoBackendName(b)) {
      *backend = b;
      return true;
    }
  }
  return false;
}

bool AbslParseFlag(absl::string_view text, IoBackend* backend,
                   std::string* error) {
  if (ParseIoBackend(text, backend)) return true;
  *error = "expected epoll, io_uring or auto";
  return false;
}

std::string AbslUnparseFlag(IoBackend backend) {
  return std::string(IoBackendName(backend));
}

}  // namespace actnet
