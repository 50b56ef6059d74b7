// CPU accounting from /proc, for reporting what a measured window cost:
// a process's utime+stime (all its threads) from /proc/PID/stat, and the
// machine-wide busy and steal time from the "cpu" line of /proc/stat.
// Everything is in seconds (ticks / sysconf(_SC_CLK_TCK)), so the
// resolution is one tick (10 ms with the usual USER_HZ of 100).
//
// Plain functions, thread-safe (they only read files).
#ifndef ACTNET_PERF_LOADGEN_PROC_CPU_H_
#define ACTNET_PERF_LOADGEN_PROC_CPU_H_

#include <sys/types.h>

#include <optional>

namespace actnet::perf {

// utime + stime of process `pid` in seconds, or nullopt if it cannot be read
// (no such process). pid 0 means this process.
std::optional<double> ProcessCpuSeconds(pid_t pid);

struct SystemCpu {
  double busy = 0;   // user+nice+system+irq+softirq over all CPUs (guest is inside user)
  double steal = 0;  // time a hypervisor ran someone else on our vCPUs
};

// The "cpu" line of /proc/stat, or nullopt if it cannot be read.
std::optional<SystemCpu> ReadSystemCpu();

}  // namespace actnet::perf

#endif  // ACTNET_PERF_LOADGEN_PROC_CPU_H_
