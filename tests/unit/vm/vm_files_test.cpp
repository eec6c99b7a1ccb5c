// The file layout of confined VMs, checked with real processes running as other users: a VM's
// user reaches nothing of the data folder (QEMU gets descriptors), not even its own VM folder,
// and every process of a VM's uid can be ended without /proc.
#include "vm/vm_files.h"

#include "vm/host_files.h"
#include "vm/process.h"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.h"
#include "vm/confinement.h"
#include "vm/errors.h"
#include "vm/run_command.h"

namespace vmshare::vm {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kVmA = 1900100001, kVmB = 1900100002;

// Can `uid` read `path`? Runs cat as that user, with no capabilities.
bool can_read_as(uid_t uid, const std::string& path) {
  auto argv = drop_privileges_argv({uid, uid, {}}, {"cat", path});
  return run_command(argv, std::chrono::seconds(10)).ok();
}

class VmFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the test runs processes as other users";
    ::chmod(tmp.path().c_str(), 0755);  // /tmp/vmt.XXXXXX is 0700 like the tests' data folders
    data = tmp / "data";
    fs::create_directories(data + "/vms");
    fs::create_directories(data + "/isos");
    ::chmod((data + "/isos").c_str(), 0700);
    test::write_file(data + "/users.db", "hashes");
    ::chmod((data + "/users.db").c_str(), 0644);
    test::write_file(data + "/isos/user-1.iso", "the ISO of user 1");
    fs::create_directories(data + "/images");  // the quick start keeps its catalog here
    test::write_file(data + "/images/tiny.qcow2", "base");
    ::chmod((data + "/images").c_str(), 0755);
    ::chmod((data + "/images/tiny.qcow2").c_str(), 0644);
    ::chmod((data + "/isos/user-1.iso").c_str(), 0600);
    ::chmod(data.c_str(), 0700);
  }
  // A VM folder as VmManager makes it: vmshare's own, 0700, the overlay inside.
  std::string make_vm(const std::string& name) {
    const std::string dir = data + "/vms/" + name;
    make_private_dir(dir);
    test::write_file(dir + "/disk.qcow2", "disk of " + name);
    return dir;
  }
  test::TempDir tmp;
  std::string data;
};

TEST_F(VmFiles, NoVmReachesAnyFileOfTheDataFolder) {
  open_data_dir_to_vms(data, data + "/vms");
  const auto a = make_vm("a");
  EXPECT_TRUE(can_read_as(kVmA, data + "/images/tiny.qcow2"));  // positive control
  EXPECT_FALSE(can_read_as(kVmA, a + "/disk.qcow2"));  // its own disk too: QEMU has a descriptor
  EXPECT_FALSE(can_read_as(kVmA, data + "/isos/user-1.iso"));
  EXPECT_FALSE(can_read_as(kVmA, data + "/users.db"));
  EXPECT_FALSE(can_read_as(kVmB, a + "/disk.qcow2"));
  struct stat st {};
  ASSERT_EQ(::stat((data + "/users.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((data + "/vms").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(VmFiles, KillsEveryProcessOfAVmUidAndNoOther) {
  auto as_a = Process::spawn({drop_privileges_argv({kVmA, kVmA, {}}, {"sleep", "60"}), "", true});
  auto as_b = Process::spawn({drop_privileges_argv({kVmB, kVmB, {}}, {"sleep", "60"}), "", true});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // setpriv has become the uid
  ASSERT_TRUE(kill_all_of_uid(kVmA));
  auto a_status = as_a.wait_for(std::chrono::seconds(5));
  ASSERT_TRUE(a_status);
  EXPECT_EQ(a_status->term_signal, SIGKILL);
  EXPECT_FALSE(as_b.try_wait());  // another VM's process lives on
  as_b.signal(SIGKILL);
  as_b.wait_for(std::chrono::seconds(5));
  EXPECT_FALSE(kill_all_of_uid(0));  // never root's
}

TEST_F(VmFiles, CatalogImagesMustBeReadableByEveryone) {
  fs::create_directories(tmp / "images");
  test::write_file(tmp / "images/base.qcow2", "base");
  ::chmod((tmp / "images/base.qcow2").c_str(), 0644);
  ::chmod((tmp / "images").c_str(), 0755);
  EXPECT_TRUE(readable_by_everyone(tmp / "images/base.qcow2"));
  EXPECT_TRUE(can_read_as(kVmA, tmp / "images/base.qcow2"));
  ::chmod((tmp / "images").c_str(), 0700);
  EXPECT_FALSE(readable_by_everyone(tmp / "images/base.qcow2"));
  EXPECT_FALSE(can_read_as(kVmA, tmp / "images/base.qcow2"));
  ::chmod((tmp / "images").c_str(), 0755);
  ::chmod((tmp / "images/base.qcow2").c_str(), 0600);
  EXPECT_FALSE(readable_by_everyone(tmp / "images/base.qcow2"));
  EXPECT_FALSE(readable_by_everyone(tmp / "images/missing.qcow2"));
}

}  // namespace
}  // namespace vmshare::vm
