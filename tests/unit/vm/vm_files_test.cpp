// The file layout of confined VMs, checked with real processes running as other users:
// a VM's user reads its own folder and what was shared into it, and nothing of another VM's.
#include "vm/vm_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

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
  // A VM folder handed to `uid` with an overlay in it, the way VmManager makes them.
  std::string make_vm(const std::string& name, uid_t uid) {
    const std::string dir = data + "/vms/" + name;
    fs::create_directory(dir);
    hand_over(dir, uid, uid, 0700);
    test::write_file(dir + "/disk.qcow2", "disk of " + name);
    hand_over(dir + "/disk.qcow2", uid, uid, 0600);
    return dir;
  }
  test::TempDir tmp;
  std::string data;
};

TEST_F(VmFiles, EachVmReadsOnlyItsOwnFiles) {
  open_data_dir_to_vms(data, data + "/vms");
  const auto a = make_vm("a", kVmA), b = make_vm("b", kVmB);
  const auto iso = share_read_only(data + "/isos/user-1.iso", a, "cdrom.iso");

  EXPECT_TRUE(can_read_as(kVmA, a + "/disk.qcow2"));
  EXPECT_TRUE(can_read_as(kVmA, iso));
  EXPECT_TRUE(can_read_as(kVmB, b + "/disk.qcow2"));
  EXPECT_TRUE(can_read_as(kVmA, data + "/images/tiny.qcow2"));

  EXPECT_FALSE(can_read_as(kVmB, a + "/disk.qcow2"));
  EXPECT_FALSE(can_read_as(kVmB, iso));
  EXPECT_FALSE(can_read_as(kVmA, b + "/disk.qcow2"));
  // The originals are out of reach of every VM, and so are the database and the secrets.
  EXPECT_FALSE(can_read_as(kVmA, data + "/isos/user-1.iso"));
  EXPECT_FALSE(can_read_as(kVmA, data + "/users.db"));
  struct stat st {};
  ASSERT_EQ(::stat((data + "/users.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(VmFiles, RefusesADataFolderTheVmsCannotReach) {
  ::chmod(tmp.path().c_str(), 0700);
  EXPECT_THROW(open_data_dir_to_vms(data, data + "/vms"), std::runtime_error);
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

TEST_F(VmFiles, CollectsWhatTheVmWroteAsVmsharesOwn) {
  open_data_dir_to_vms(data, data + "/vms");
  const auto a = make_vm("a", kVmA);
  fs::create_directories(data + "/snapshots/1");
  const std::string staged = a + "/backup.qcow2";
  test::write_file(staged, "copy");
  hand_over(staged, kVmA, kVmA, 0600);
  collect_from_vm(staged, data + "/snapshots/1/s.qcow2");
  EXPECT_FALSE(fs::exists(staged));
  struct stat st {};
  ASSERT_EQ(::stat((data + "/snapshots/1/s.qcow2").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(test::read_file(data + "/snapshots/1/s.qcow2"), "copy");
  EXPECT_THROW(collect_from_vm(a + "/missing", data + "/snapshots/1/t.qcow2"), VmError);
}

}  // namespace
}  // namespace vmshare::vm
