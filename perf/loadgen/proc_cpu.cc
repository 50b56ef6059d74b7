#include "perf/loadgen/proc_cpu.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace actnet::perf {
namespace {

double TicksPerSecond() {
  static const double hz = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<double>(v) : 100.0;
  }();
  return hz;
}

// Reads a whole small /proc file; /proc files report size 0, so read until EOF.
std::optional<std::string> Slurp(const char* path) {
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

}  // namespace

std::optional<double> ProcessCpuSeconds(pid_t pid) {
  char path[64];
  if (pid == 0) {
    std::snprintf(path, sizeof path, "/proc/self/stat");
  } else {
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  }
  std::optional<std::string> text = Slurp(path);
  if (!text) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces or
  // parentheses itself, so fields are counted from the last ')'. After it
  // come field 3 (state) onwards; utime and stime are fields 14 and 15.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(text->c_str() + close + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                  &utime, &stime) != 2) {
    return std::nullopt;
  }
  return static_cast<double>(utime + stime) / TicksPerSecond();
}

std::optional<SystemCpu> ReadSystemCpu() {
  std::optional<std::string> text = Slurp("/proc/stat");
  if (!text) return std::nullopt;
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  unsigned long long v[8] = {};
  if (std::sscanf(text->c_str(), "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
                  &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 7) {
    return std::nullopt;
  }
  SystemCpu out;
  out.busy = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) / TicksPerSecond();
  out.steal = static_cast<double>(v[7]) / TicksPerSecond();
  return out;
}

}  // namespace actnet::perf
