// Counts the open file descriptors of the test process, so each test file
// can check at its end that it leaked none. Test-only; any thread.

#ifndef ACTNET_TESTS_IO_FD_COUNT_H_
#define ACTNET_TESTS_IO_FD_COUNT_H_

#include <dirent.h>

namespace actnet::testing {

// The number of entries in /proc/self/fd, not counting the descriptor used
// to read the directory. -1 if /proc is unavailable.
inline int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;
}

}  // namespace actnet::testing

#endif  // ACTNET_TESTS_IO_FD_COUNT_H_
