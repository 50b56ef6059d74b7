#include "perf/scale/proc_mem.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace actnet::perf {

std::optional<ProcMem> ParseProcStatus(std::string_view text) {
  ProcMem m;
  auto field = [&](std::string_view line, std::string_view key, long long* out) {
    if (line.substr(0, key.size()) != key) return;
    std::string rest(line.substr(key.size()));
    *out = std::strtoll(rest.c_str(), nullptr, 10);  // "   1234 kB"
  };
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    field(line, "VmRSS:", &m.vm_rss_kb);
    field(line, "RssAnon:", &m.rss_anon_kb);
    field(line, "RssFile:", &m.rss_file_kb);
    field(line, "VmHWM:", &m.vm_hwm_kb);
    at = end + 1;
  }
  if (m.vm_rss_kb < 0) return std::nullopt;
  return m;
}

std::optional<ProcMem> ReadProcMem(pid_t pid) {
  const std::string path =
      pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status";
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return ParseProcStatus(text.str());
}

}  // namespace actnet::perf
