// What the server may use of the machine it runs on: the memory the kernel reports available
// and, inside a container, its cgroup's memory and CPU limits, which /proc/meminfo and the
// online CPU count do not reflect.
#ifndef RATTN_SERVER_HOST_LIMITS_H_
#define RATTN_SERVER_HOST_LIMITS_H_

#include <cstdint>
#include <string>

namespace rattn::server {

struct HostLimits {
  int64_t available_bytes = 0;      // MemAvailable, capped by the cgroup's room; 0 when unknown
  int64_t cgroup_memory_limit = 0;  // 0 when there is none
  double cgroup_cpus = 0;           // CPU quota / period; 0 when there is none
};

// Reads /proc/meminfo under `proc_root` and the cgroup files (v2: memory.max, memory.current,
// cpu.max; v1: memory/memory.limit_in_bytes, memory/memory.usage_in_bytes, cpu/cpu.cfs_quota_us,
// cpu/cpu.cfs_period_us) under `cgroup_root`. Inside a container the cgroup namespace puts the
// container's own cgroup at /sys/fs/cgroup; on a host the root cgroup has no limits.
HostLimits ReadHostLimits(const std::string& proc_root = "/proc",
                          const std::string& cgroup_root = "/sys/fs/cgroup");

// CPUs this process may run on (its affinity mask); at least 1.
int AffinityCores();

// Threads for the CPU backend when none are asked for: the cores OpenMP sees, at most the
// cgroup's CPU quota rounded up, and at least 1.
int DefaultThreads(const HostLimits& limits, int online_cores);

}  // namespace rattn::server

#endif  // RATTN_SERVER_HOST_LIMITS_H_
