// plan_launch is pure: each kind of launch is compared with a golden description
// (tests/unit/vm/golden/*.plan; VMSHARE_UPDATE_GOLDEN=1 rewrites them).
#include "vm/launch_plan.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.h"
#include "vm/errors.h"

using namespace vmshare::vm;

namespace {

Catalog catalog() {
  Profile tiny;
  tiny.name = "tiny";
  tiny.base_image = "/srv/images/tiny.qcow2";
  tiny.memory_mb = 256;
  tiny.cpus = 1;
  Profile kernel;
  kernel.name = "kernel";
  kernel.base_image = "/srv/images/k.qcow2";
  kernel.memory_mb = 1024;
  kernel.cpus = 2;
  kernel.kernel = "/srv/images/vmlinuz";
  kernel.initrd = "/srv/images/initrd.gz";
  kernel.append = "quiet";
  return Catalog({tiny, kernel});
}

LaunchEnvironment environment(bool confined) {
  LaunchEnvironment e;
  e.vmid = "AbCdEfGh01234567";
  e.vm_dir = "/var/lib/vmshare/vms/AbCdEfGh01234567";
  e.now = 1800000000;
  e.max_session_s = 3600;
  e.qemu_binary = "/usr/bin/qemu-system-x86_64";
  e.accel = "tcg";
  if (confined) e.confine = DropPrivileges{1900000003, 1900000003, {993}};
  return e;
}

void check_golden(const std::string& name, const LaunchPlan& plan) {
  const std::string path = test::source_path("tests/unit/vm/golden/" + name + ".plan");
  const std::string actual = describe(plan);
  if (const char* u = std::getenv("VMSHARE_UPDATE_GOLDEN"); u && std::string(u) == "1") return test::write_file(path, actual);
  const std::string expected = test::read_file(path);
  ASSERT_FALSE(expected.empty()) << "missing golden file " << path << " (run with VMSHARE_UPDATE_GOLDEN=1)";
  EXPECT_EQ(actual, expected) << "plan differs from " << path;
}

}  // namespace

TEST(LaunchPlan, GoldenCatalogConfined) {
  check_golden("catalog_confined", plan_launch({7, "tiny", "", "", ""}, environment(true), catalog()));
}

TEST(LaunchPlan, GoldenKernelBootUnconfined) {
  check_golden("kernel_unconfined", plan_launch({7, "kernel", "", "", ""}, environment(false), catalog()));
}

TEST(LaunchPlan, GoldenSnapshotBoot) {
  LaunchRequest r{7, "tiny", "/var/lib/vmshare/snapshots/7/7__tiny__x.qcow2", "7__tiny__x.qcow2", ""};
  check_golden("snapshot_confined", plan_launch(r, environment(true), catalog()));
}

TEST(LaunchPlan, GoldenIsoBoot) {
  LaunchRequest r{7, kCustomProfileName, "", "", "/var/lib/vmshare/isos/user-7.iso"};
  check_golden("iso_confined", plan_launch(r, environment(true), catalog()));
}

// Every file the plan names is vmshare's: the VM's own folder or an input vmshare holds.
TEST(LaunchPlan, OnlyVmsharesPathsAndNoneInQemusArgv) {
  LaunchRequest r{7, kCustomProfileName, "", "", "/var/lib/vmshare/isos/user-7.iso"};
  const auto p = plan_launch(r, environment(true), catalog());
  for (const auto* path : {&p.overlay_path, &p.qmp_socket_path, &p.log_path})
    EXPECT_EQ(path->rfind(p.record.run_dir + "/", 0), 0u) << *path;
  for (const auto& a : p.argv) EXPECT_EQ(a.find("/var/lib/vmshare"), std::string::npos) << a;
  EXPECT_EQ(p.record.uid, 1900000003u);
  EXPECT_EQ(p.record.expires_at, 1800000000 + 3600);
  EXPECT_EQ(p.blank_bytes, kIsoInstallDiskBytes);
}

TEST(LaunchPlan, SnapshotOfARemovedProfileStillBootsUnknownOsTypeDoesNot) {
  LaunchRequest snap{7, "gone", "/var/lib/vmshare/snapshots/7/s.qcow2", "s.qcow2", ""};
  const auto p = plan_launch(snap, environment(false), catalog());
  EXPECT_EQ(p.memory_mb, 512);
  EXPECT_EQ(p.backing_path, snap.snapshot_path);
  EXPECT_THROW(plan_launch({7, "gone", "", "", ""}, environment(false), catalog()), UnknownProfile);
}

// Installer profiles (`vmshare image add` of an ISO, or of a kernel alone): a blank disk to
// install onto; the profile's CD read-only and booted first.
TEST(LaunchPlan, InstallerProfilesBootOntoABlankDisk) {
  Profile iso;
  iso.name = "installer";
  iso.iso = "/srv/images/installer-1.iso";
  iso.memory_mb = 1024;
  iso.cpus = 1;
  Profile netboot;
  netboot.name = "netboot";
  netboot.kernel = "/srv/images/netboot-1.kernel";
  netboot.initrd = "/srv/images/netboot-1.initrd";
  netboot.memory_mb = 1024;
  netboot.cpus = 1;
  const Catalog c({iso, netboot});
  const auto a = plan_launch({7, "installer", "", "", ""}, environment(true), c);
  EXPECT_TRUE(a.backing_path.empty());
  EXPECT_EQ(a.blank_bytes, kIsoInstallDiskBytes);
  EXPECT_EQ(a.iso_path, "/srv/images/installer-1.iso");
  EXPECT_EQ(a.record.iso_path, "/srv/images/installer-1.iso");
  const std::string argv = describe(a);
  EXPECT_NE(argv.find("order=d"), std::string::npos) << argv;
  const auto b = plan_launch({7, "netboot", "", "", ""}, environment(true), c);
  EXPECT_TRUE(b.backing_path.empty());
  EXPECT_TRUE(b.iso_path.empty());
  EXPECT_EQ(b.blank_bytes, kIsoInstallDiskBytes);
  EXPECT_NE(describe(b).find("/srv/images/netboot-1.kernel"), std::string::npos);
}
