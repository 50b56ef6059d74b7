// ParseProcStatus on a real-looking status file and on this process.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "perf/scale/proc_mem.h"

#include <unistd.h>

#include <memory>

#include "doctest/doctest.h"

namespace actnet::perf {

TEST_CASE("the memory lines of /proc/PID/status are read in kB") {
  const char* text =
      "Name:\techo\nVmPeak:\t  100 kB\nVmHWM:\t    9000 kB\nVmRSS:\t    8000 kB\n"
      "RssAnon:\t    3000 kB\nRssFile:\t    4990 kB\nRssShmem:\t      10 kB\n";
  std::optional<ProcMem> m = ParseProcStatus(text);
  REQUIRE(m.has_value());
  CHECK(m->vm_rss_kb == 8000);
  CHECK(m->rss_anon_kb == 3000);
  CHECK(m->rss_file_kb == 4990);
  CHECK(m->vm_hwm_kb == 9000);
  CHECK(!ParseProcStatus("Name:\tx\n").has_value());
}

TEST_CASE("touching 64 MiB shows up in this process's RssAnon") {
  std::optional<ProcMem> before = ReadProcMem(0);
  REQUIRE(before.has_value());
  CHECK(ReadProcMem(getpid()).has_value());
  constexpr size_t kBytes = 64 << 20;
  std::unique_ptr<char[]> block(new char[kBytes]);
  for (size_t i = 0; i < kBytes; i += 4096) block[i] = static_cast<char>(i);
  std::optional<ProcMem> after = ReadProcMem(0);
  REQUIRE(after.has_value());
  CHECK(after->rss_anon_kb - before->rss_anon_kb >= 60 * 1024);
  CHECK(after->vm_rss_kb - before->vm_rss_kb >= 60 * 1024);
  CHECK(block[4096] == static_cast<char>(4096));
  CHECK(!ReadProcMem(0x3fffffff).has_value());
}

}  // namespace actnet::perf
