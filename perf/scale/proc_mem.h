// A process's memory as /proc/PID/status reports it, in kB: VmRSS (all
// resident pages), RssAnon (resident anonymous pages: heap, stacks, the
// process's own data; what user-space allocations cost), RssFile (mapped
// files: the binary and shared libraries) and VmHWM (peak RSS).
//
// A plain function, thread-safe (it only reads a file).
#ifndef ACTNET_PERF_SCALE_PROC_MEM_H_
#define ACTNET_PERF_SCALE_PROC_MEM_H_

#include <sys/types.h>

#include <optional>
#include <string_view>

namespace actnet::perf {

struct ProcMem {
  long long vm_rss_kb = -1;
  long long rss_anon_kb = -1;
  long long rss_file_kb = -1;
  long long vm_hwm_kb = -1;
};

// Parses the text of a /proc/PID/status file; nullopt without VmRSS.
std::optional<ProcMem> ParseProcStatus(std::string_view text);

// /proc/PID/status of `pid` (0 = this process), or nullopt if unreadable.
std::optional<ProcMem> ReadProcMem(pid_t pid);

}  // namespace actnet::perf

#endif  // ACTNET_PERF_SCALE_PROC_MEM_H_
