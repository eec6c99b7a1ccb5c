// `vmshare image remove` refuses while a running VM uses the image: it reads the VM folders
// the server keeps (<data>/vms/<vmid>/state.json).
#include "vm/profile_usage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "test_util.h"

using namespace vmshare::vm;

namespace {

Profile tiny() {
  Profile p;
  p.name = "tiny";
  p.base_image = "/srv/images/tiny.qcow2";
  p.memory_mb = 256;
  p.cpus = 1;
  return p;
}

void add_vm(const test::TempDir& dir, const std::string& vmid, const std::string& os_type, std::int64_t pid,
            const std::string& base = {}) {
  VmRecord r;
  r.vmid = vmid;
  r.user_id = 1;
  r.os_type = os_type;
  r.pid = pid;
  r.run_dir = dir / vmid;
  r.base_image = base;
  std::filesystem::create_directories(r.run_dir);
  save_vm_record(r);
}

}  // namespace

TEST(ProfileUsage, ByNameOrByItsFiles) {
  VmRecord r;
  r.os_type = "tiny";
  EXPECT_TRUE(record_uses_profile(r, tiny()));
  r.os_type = "custom";
  EXPECT_FALSE(record_uses_profile(r, tiny()));
  r.base_image = "/srv/images/tiny.qcow2";  // booted from it under another name (a renamed profile)
  EXPECT_TRUE(record_uses_profile(r, tiny()));
  Profile iso = tiny();
  iso.base_image.clear();
  iso.iso = "/srv/images/i.iso";
  r.base_image.clear();
  EXPECT_FALSE(record_uses_profile(r, iso));  // empty paths never match
  r.iso_path = "/srv/images/i.iso";
  EXPECT_TRUE(record_uses_profile(r, iso));
}

TEST(ProfileUsage, CountsRunningVmsOnly) {
  test::TempDir vms;
  add_vm(vms, "aaaaaaaaaaaaaaaa", "tiny", ::getpid());    // alive: this test's own pid
  add_vm(vms, "bbbbbbbbbbbbbbbb", "other", ::getpid());   // alive, another profile
  add_vm(vms, "cccccccccccccccc", "tiny", 0x3fffffff);    // no such process
  EXPECT_EQ(vms_using_profile(vms.path(), tiny()), std::vector<std::string>{"aaaaaaaaaaaaaaaa"});
}

TEST(ProfileUsage, AFreshFolderWithoutARecordIsALaunchInProgress) {
  test::TempDir vms;
  std::filesystem::create_directories(vms / "dddddddddddddddd");
  EXPECT_EQ(vms_using_profile(vms.path(), tiny()), std::vector<std::string>{"dddddddddddddddd"});
  std::filesystem::last_write_time(vms / "dddddddddddddddd",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::minutes(10));
  EXPECT_TRUE(vms_using_profile(vms.path(), tiny()).empty());
  EXPECT_TRUE(vms_using_profile(vms / "missing", tiny()).empty());
}
