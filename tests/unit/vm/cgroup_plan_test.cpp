#include "vm/cgroup_plan.h"

#include <gtest/gtest.h>

namespace vmshare::vm {
namespace {

// A pure v2 host (systemd service with Delegate=yes).
const char* kV2Mounts =
    "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
const char* kV2Self = "0::/system.slice/vmshare.service\n";

// A hybrid host like this project's CI machine: v1 controllers, a unified tree with none.
const char* kHybridMounts =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const char* kHybridSelf = "8:pids:/\n4:memory:/jobs/abc\n1:cpu:/\n0::/\n";

TEST(CgroupPlan, PureV2WithDelegatedControllers) {
  auto loc = locate_cgroups(kV2Mounts, kV2Self, "cpuset cpu io memory pids\n");
  EXPECT_EQ(loc.version, 2);
  EXPECT_EQ(loc.v2_dir, "/sys/fs/cgroup/system.slice/vmshare.service");
}

TEST(CgroupPlan, V2WithoutDelegationSaysWhy) {
  auto loc = locate_cgroups(kV2Mounts, kV2Self, "cpu io\n");
  EXPECT_EQ(loc.version, 0);
  EXPECT_NE(loc.why_not.find("memory, pids"), std::string::npos) << loc.why_not;
  EXPECT_NE(loc.why_not.find("Delegate=yes"), std::string::npos) << loc.why_not;
}

TEST(CgroupPlan, HybridHostUsesTheV1Hierarchies) {
  auto loc = locate_cgroups(kHybridMounts, kHybridSelf, "hugetlb\n");
  ASSERT_EQ(loc.version, 1) << loc.why_not;
  EXPECT_EQ(loc.v1_dirs.at("memory"), "/sys/fs/cgroup/memory/jobs/abc");
  EXPECT_EQ(loc.v1_dirs.at("cpu"), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(loc.v1_dirs.at("pids"), "/sys/fs/cgroup/pids");
}

TEST(CgroupPlan, CombinedV1ControllersAndMountRoots) {
  // cpu and cpuacct co-mounted; a container whose mount root is its own group.
  const char* mounts =
      "32 31 0:29 /ctr /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "35 31 0:32 /ctr /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "39 31 0:36 /ctr /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  auto loc = locate_cgroups(mounts, "5:cpu,cpuacct:/ctr/svc\n4:memory:/ctr\n3:pids:/ctr/svc\n", "");
  ASSERT_EQ(loc.version, 1) << loc.why_not;
  EXPECT_EQ(loc.v1_dirs.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct/svc");
  EXPECT_EQ(loc.v1_dirs.at("memory"), "/sys/fs/cgroup/memory");
}

TEST(CgroupPlan, NothingUsable) {
  auto loc = locate_cgroups("22 1 0:21 / /sys rw - sysfs sysfs rw\n", "0::/\n", "");
  EXPECT_EQ(loc.version, 0);
  EXPECT_FALSE(loc.why_not.empty());
  // v1 with pids missing is not enough either
  auto partial = locate_cgroups("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                                "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
                                "4:memory:/\n1:cpu:/\n", "");
  EXPECT_EQ(partial.version, 0);
}

TEST(CgroupPlan, EscapedMountPoints) {
  const char* mounts = "30 22 0:26 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
  auto loc = locate_cgroups(mounts, "0::/a\n", "memory cpu pids");
  ASSERT_EQ(loc.version, 2);
  EXPECT_EQ(loc.v2_dir, "/sys/fs/my cgroup/a");
}

TEST(CgroupPlan, LimitsAndTheFilesThatCarryThem) {
  auto l = vm_limits(256, 2, 512, 300);
  EXPECT_EQ(l.memory_bytes, 768ULL << 20);
  EXPECT_EQ(l.cpu_percent, 200);
  EXPECT_EQ(l.pids, 300);

  auto v2 = limit_writes(2, l);
  ASSERT_EQ(v2.size(), 4u);
  EXPECT_EQ(v2[0].file, "memory.max");
  EXPECT_EQ(v2[0].value, std::to_string(768ULL << 20));
  EXPECT_TRUE(v2[1].optional);  // memory.swap.max
  EXPECT_EQ(v2[2].file, "cpu.max");
  EXPECT_EQ(v2[2].value, "200000 100000");
  EXPECT_EQ(v2[3].value, "300");

  auto v1 = limit_writes(1, vm_limits(512, 1, 256, 64));
  ASSERT_EQ(v1.size(), 4u);
  EXPECT_EQ(v1[0].file, "memory.limit_in_bytes");
  EXPECT_EQ(v1[0].value, std::to_string(768ULL << 20));
  EXPECT_EQ(v1[1].file, "cpu.cfs_period_us");
  EXPECT_EQ(v1[2].file, "cpu.cfs_quota_us");
  EXPECT_EQ(v1[2].value, "100000");
  EXPECT_EQ(v1[3].controller, "pids");
  EXPECT_TRUE(limit_writes(0, l).empty());
}

}  // namespace
}  // namespace vmshare::vm
