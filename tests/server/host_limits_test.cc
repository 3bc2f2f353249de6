// The memory and CPU limits the server sizes itself by, read from fake /proc and cgroup trees.
#include "server/host_limits.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/test_util.h"

namespace rattn::server {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

class HostLimitsTest : public ::testing::Test {
 protected:
  HostLimitsTest() : dir_("host_limits_test") {
    Write(Proc("meminfo"),
          "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n"
          "MemAvailable:    8000000 kB\n");
  }
  std::string Proc(const std::string& name) const { return dir_.File("proc/" + name); }
  std::string Cgroup(const std::string& name) const { return dir_.File("cgroup/" + name); }
  HostLimits Read() const { return ReadHostLimits(dir_.File("proc"), dir_.File("cgroup")); }

  rattn::testing::ScratchDir dir_;
};

TEST_F(HostLimitsTest, WithoutCgroupLimitsMemAvailableIsAllThereIs) {
  std::filesystem::create_directories(dir_.File("cgroup"));
  HostLimits limits = Read();
  EXPECT_EQ(limits.available_bytes, int64_t{8000000} * 1024);
  EXPECT_EQ(limits.cgroup_memory_limit, 0);
  EXPECT_EQ(limits.cgroup_cpus, 0);
  EXPECT_EQ(DefaultThreads(limits, 16), 16);
}

TEST_F(HostLimitsTest, CgroupV2LimitsCapMemoryAndThreads) {
  Write(Cgroup("memory.max"), "2147483648\n");
  Write(Cgroup("memory.current"), "536870912\n");
  Write(Cgroup("cpu.max"), "250000 100000\n");
  HostLimits limits = Read();
  EXPECT_EQ(limits.cgroup_memory_limit, int64_t{2} << 30);
  // The room left in the cgroup, well below the host's MemAvailable.
  EXPECT_EQ(limits.available_bytes, (int64_t{2} << 30) - (int64_t{512} << 20));
  EXPECT_DOUBLE_EQ(limits.cgroup_cpus, 2.5);
  EXPECT_EQ(DefaultThreads(limits, 16), 3);
  EXPECT_EQ(DefaultThreads(limits, 2), 2);
}

TEST_F(HostLimitsTest, CgroupV2WithoutLimitsSaysMax) {
  Write(Cgroup("memory.max"), "max\n");
  Write(Cgroup("memory.current"), "536870912\n");
  Write(Cgroup("cpu.max"), "max 100000\n");
  HostLimits limits = Read();
  EXPECT_EQ(limits.cgroup_memory_limit, 0);
  EXPECT_EQ(limits.available_bytes, int64_t{8000000} * 1024);
  EXPECT_EQ(limits.cgroup_cpus, 0);
}

TEST_F(HostLimitsTest, CgroupV1LimitsAndItsHugeNoLimitValue) {
  Write(Cgroup("memory/memory.limit_in_bytes"), "1073741824\n");
  Write(Cgroup("memory/memory.usage_in_bytes"), "2147483648\n");  // over the limit: no room
  Write(Cgroup("cpu/cpu.cfs_quota_us"), "100000\n");
  Write(Cgroup("cpu/cpu.cfs_period_us"), "100000\n");
  HostLimits limits = Read();
  EXPECT_EQ(limits.cgroup_memory_limit, int64_t{1} << 30);
  EXPECT_EQ(limits.available_bytes, 0);
  EXPECT_EQ(DefaultThreads(limits, 8), 1);

  Write(Cgroup("memory/memory.limit_in_bytes"), "9223372036854771712\n");
  Write(Cgroup("cpu/cpu.cfs_quota_us"), "-1\n");
  limits = Read();
  EXPECT_EQ(limits.cgroup_memory_limit, 0);
  EXPECT_EQ(limits.available_bytes, int64_t{8000000} * 1024);
  EXPECT_EQ(limits.cgroup_cpus, 0);
}

TEST_F(HostLimitsTest, UnreadableFilesMeanUnknownNotZeroLimits) {
  Write(Cgroup("memory.max"), "garbage\n");
  Write(Cgroup("cpu.max"), "\n");
  std::filesystem::remove(Proc("meminfo"));
  HostLimits limits = Read();
  EXPECT_EQ(limits.available_bytes, 0);
  EXPECT_EQ(limits.cgroup_memory_limit, 0);
  EXPECT_EQ(limits.cgroup_cpus, 0);
  EXPECT_EQ(DefaultThreads(limits, 0), 1);
}

TEST(AffinityCoresTest, SeesAtLeastOneCore) { EXPECT_GE(AffinityCores(), 1); }

}  // namespace
}  // namespace rattn::server
