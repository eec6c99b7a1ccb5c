// Per-VM cgroups on this host: a real process is moved in and its limits are the kernel's.
#include "vm/cgroups.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.h"
#include "vm/errors.h"
#include "vm/process.h"

namespace vmshare::vm {
namespace {

namespace fs = std::filesystem;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class Cgroups : public ::testing::Test {
 protected:
  void SetUp() override {
    groups = VmCgroups::prepare("unittest" + std::to_string(::getpid()), locate_own_cgroups());
    if (!groups.active()) GTEST_SKIP() << "this host gives no per-VM cgroups: " << groups.why();
  }
  void TearDown() override {
    if (groups.active()) {
      groups.remove_all_except({});
      for (const auto& d : groups.dirs_of("x")) ::rmdir(fs::path(d).parent_path().c_str());
    }
  }
  VmCgroups groups;
};

TEST_F(Cgroups, LimitsApplyToTheProcess) {
  auto sleeper = Process::spawn({{"sleep", "30"}, "", true});
  const VmLimits limits = vm_limits(64, 1, 64, 40);
  groups.attach("vm1", sleeper.pid(), limits);
  const auto dirs = groups.dirs_of("vm1");
  for (const auto& d : dirs)
    EXPECT_EQ(trimmed(test::read_file(d + "/cgroup.procs")), std::to_string(sleeper.pid())) << d;
  const auto self_cgroup = test::read_file("/proc/" + std::to_string(sleeper.pid()) + "/cgroup");
  EXPECT_NE(self_cgroup.find("/vm1"), std::string::npos) << self_cgroup;
  if (groups.version() == 1) {
    EXPECT_EQ(trimmed(test::read_file(dirs[0] + "/memory.limit_in_bytes")), std::to_string(128ULL << 20));
    EXPECT_EQ(trimmed(test::read_file(dirs[1] + "/cpu.cfs_quota_us")), "100000");
    EXPECT_EQ(trimmed(test::read_file(dirs[2] + "/pids.max")), "40");
  } else {
    EXPECT_EQ(trimmed(test::read_file(dirs[0] + "/memory.max")), std::to_string(128ULL << 20));
    EXPECT_EQ(trimmed(test::read_file(dirs[0] + "/cpu.max")), "100000 100000");
    EXPECT_EQ(trimmed(test::read_file(dirs[0] + "/pids.max")), "40");
  }
  // The group is in use: removing it now leaves it; once the process is gone it goes.
  groups.remove("vm1");
  EXPECT_TRUE(fs::exists(dirs[0]));
  sleeper.signal(SIGKILL);
  sleeper.wait_for(std::chrono::seconds(5));
  groups.remove("vm1");
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(Cgroups, PidsLimitStopsForks) {
  // The shell waits for the gate file, so every fork happens after it joined a group that
  // allows 3 tasks: itself and two jobs fit, the third fork fails.
  test::TempDir tmp;
  const std::string gate = tmp / "go", log = tmp / "log";
  auto shell = Process::spawn(
      {{"sh", "-c", "while [ ! -e " + gate + " ]; do sleep 0.05; done; for i in 1 2 3 4 5; do sleep 3 & done; wait"},
       log, true});
  groups.attach("vm2", shell.pid(), vm_limits(64, 1, 64, 3));
  test::write_file(gate, "");
  auto status = shell.wait_for(std::chrono::seconds(20));
  ASSERT_TRUE(status);
  EXPECT_NE(status->exit_code, 0) << status->describe();
  EXPECT_NE(test::read_file(log).find("fork"), std::string::npos) << test::read_file(log);
  // its jobs are gone too before the group can go
  for (int i = 0; i < 100 && fs::exists(groups.dirs_of("vm2")[0]); ++i) {
    groups.remove("vm2");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(fs::exists(groups.dirs_of("vm2")[0]));
}

}  // namespace
}  // namespace vmshare::vm
