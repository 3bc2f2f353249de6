// Host and cgroup limits; see host_limits.h.
#include "server/host_limits.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

namespace rattn::server {
namespace {

// The first line of a small kernel file; nullopt when it cannot be read.
std::optional<std::string> FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// A byte count from a cgroup file; nullopt for "max", a missing file or garbage. cgroup v1
// writes "no limit" as a huge number (page-rounded LONG_MAX); anything at or above 2^60 counts
// as none.
std::optional<int64_t> CgroupBytes(const std::string& path) {
  std::optional<std::string> line = FirstLine(path);
  if (!line) return std::nullopt;
  std::istringstream in(*line);
  int64_t value = 0;
  if (!(in >> value) || value < 0 || value >= (int64_t{1} << 60)) return std::nullopt;
  return value;
}

int64_t MemAvailable(const std::string& proc_root) {
  std::ifstream meminfo(proc_root + "/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

double CgroupCpus(const std::string& root) {
  // v2: "QUOTA PERIOD" or "max PERIOD".
  if (std::optional<std::string> line = FirstLine(root + "/cpu.max")) {
    std::istringstream in(*line);
    double quota = 0, period = 0;
    if (in >> quota >> period && quota > 0 && period > 0) return quota / period;
    return 0;
  }
  std::optional<std::string> quota = FirstLine(root + "/cpu/cpu.cfs_quota_us");
  std::optional<std::string> period = FirstLine(root + "/cpu/cpu.cfs_period_us");
  if (!quota || !period) return 0;
  double q = std::atof(quota->c_str()), p = std::atof(period->c_str());
  return q > 0 && p > 0 ? q / p : 0;
}

}  // namespace

HostLimits ReadHostLimits(const std::string& proc_root, const std::string& cgroup_root) {
  HostLimits limits;
  limits.available_bytes = MemAvailable(proc_root);
  std::optional<int64_t> limit = CgroupBytes(cgroup_root + "/memory.max");
  std::optional<int64_t> used = CgroupBytes(cgroup_root + "/memory.current");
  if (!limit) {
    limit = CgroupBytes(cgroup_root + "/memory/memory.limit_in_bytes");
    used = CgroupBytes(cgroup_root + "/memory/memory.usage_in_bytes");
  }
  if (limit) {
    limits.cgroup_memory_limit = *limit;
    const int64_t room = std::max<int64_t>(0, *limit - used.value_or(0));
    limits.available_bytes =
        limits.available_bytes > 0 ? std::min(limits.available_bytes, room) : room;
  }
  limits.cgroup_cpus = CgroupCpus(cgroup_root);
  return limits;
}

int AffinityCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

int DefaultThreads(const HostLimits& limits, int online_cores) {
  int threads = std::max(1, online_cores);
  if (limits.cgroup_cpus > 0) {
    threads = std::min(threads, static_cast<int>(std::ceil(limits.cgroup_cpus)));
  }
  return std::max(1, threads);
}

}  // namespace rattn::server
