#include "vm/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "test_util.h"

using namespace vmshare::vm;

namespace {

QemuSpec base_spec() {
  QemuSpec s;
  s.qemu_binary = "qemu-system-x86_64";
  s.vmid = "vm-0123abcd";
  s.accel = "tcg";
  s.memory_mb = 256;
  s.cpus = 1;
  s.has_base = true;
  return s;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& a : v) out += a + "\n";
  return out;
}

// Compares argv with golden/<name>.argv (one argument per line);
// VMSHARE_UPDATE_GOLDEN=1 rewrites the file instead.
void check_golden(const std::string& name, const std::vector<std::string>& argv) {
  std::string path = test::source_path("tests/unit/vm/golden/" + name + ".argv");
  std::string actual = join_lines(argv);
  const char* update = std::getenv("VMSHARE_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    test::write_file(path, actual);
    return;
  }
  std::string expected = test::read_file(path);
  ASSERT_FALSE(expected.empty()) << "missing golden file " << path
                                 << " (run with VMSHARE_UPDATE_GOLDEN=1)";
  EXPECT_EQ(actual, expected) << "argv differs from " << path;
}

bool has_pair(const std::vector<std::string>& a, const std::string& k, const std::string& v) {
  for (std::size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == k && a[i + 1] == v) return true;
  return false;
}

}  // namespace

TEST(QemuCommand, GoldenOverlayTcg) { check_golden("overlay_tcg", build_qemu_argv(base_spec())); }

TEST(QemuCommand, GoldenOverlayKvm) {
  auto s = base_spec();
  s.accel = "kvm";
  s.memory_mb = 2048;
  s.cpus = 4;
  check_golden("overlay_kvm", build_qemu_argv(s));
}

TEST(QemuCommand, GoldenIsoBoot) {
  auto s = base_spec();
  s.has_base = false;  // a blank disk to install onto
  s.has_iso = true;
  check_golden("iso_boot", build_qemu_argv(s));
}

TEST(QemuCommand, GoldenKernelBoot) {
  auto s = base_spec();
  s.kernel = "/var/lib/vmshare/images/vmlinuz";
  s.initrd = "/var/lib/vmshare/images/initrd.gz";
  s.append = "console=tty0 quiet rdinit=/init";
  check_golden("kernel_boot", build_qemu_argv(s));
}

TEST(QemuCommand, EssentialFlags) {
  auto a = build_qemu_argv(base_spec());
  EXPECT_EQ(a.front(), "qemu-system-x86_64");
  EXPECT_TRUE(has_pair(a, "-cpu", "max"));
  EXPECT_TRUE(has_pair(a, "-machine", "pc"));
  EXPECT_TRUE(has_pair(a, "-accel", "tcg,tb-size=256"));
  EXPECT_TRUE(has_pair(a, "-vnc", "none"));
  EXPECT_TRUE(has_pair(a, "-chardev", "socket,id=qmp,fd=3,server=on,wait=off"));
  EXPECT_TRUE(has_pair(a, "-mon", "chardev=qmp,mode=control"));
  EXPECT_TRUE(has_pair(a, "-nic", "none"));
  EXPECT_EQ(std::count(a.begin(), a.end(), "-no-shutdown"), 0);
  EXPECT_EQ(std::count(a.begin(), a.end(), "-daemonize"), 0);
  EXPECT_EQ(std::count(a.begin(), a.end(), "-boot"), 0);
}

// QEMU opens no file by a path vmshare does not control: every disk is an fd set, the overlay's
// backing is named as a node (its header's path is never followed) and that node has no backing.
TEST(QemuCommand, DisksAreDescriptorsAndBackingIsExplicit) {
  auto s = base_spec();
  s.has_iso = true;
  auto a = build_qemu_argv(s);
  EXPECT_TRUE(has_pair(a, "-add-fd", "fd=4,set=1,opaque=disk"));
  EXPECT_TRUE(has_pair(a, "-add-fd", "fd=5,set=2,opaque=base"));
  EXPECT_TRUE(has_pair(a, "-add-fd", "fd=6,set=3,opaque=cdrom"));
  EXPECT_TRUE(has_pair(a, "-blockdev", R"({"backing":"base0","driver":"qcow2","file":"disk0-file","node-name":"disk0"})"));
  EXPECT_TRUE(has_pair(a, "-blockdev",
                       R"({"backing":null,"driver":"qcow2","file":"base0-file","node-name":"base0","read-only":true})"));
  for (std::size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == "-blockdev" && a[i + 1].find("\"filename\"") != std::string::npos) {
      EXPECT_NE(a[i + 1].find("\"filename\":\"/dev/fdset/"), std::string::npos) << a[i + 1];
    }
  s.has_base = false;
  a = build_qemu_argv(s);
  EXPECT_TRUE(has_pair(a, "-blockdev", R"({"backing":null,"driver":"qcow2","file":"disk0-file","node-name":"disk0"})"));
  EXPECT_EQ(std::count(a.begin(), a.end(), "fd=5,set=2,opaque=base"), 0);
}

TEST(QemuCommand, RejectsInvalidSpecs) {
  auto bad = [](auto mutate) {
    auto s = base_spec();
    mutate(s);
    EXPECT_THROW(build_qemu_argv(s), QemuSpecError);
  };
  bad([](QemuSpec& s) { s.vmid = ""; });
  bad([](QemuSpec& s) { s.vmid = "a,b"; });
  bad([](QemuSpec& s) { s.vmid = "x y"; });
  bad([](QemuSpec& s) { s.accel = "auto"; });
  bad([](QemuSpec& s) { s.memory_mb = 10; });
  bad([](QemuSpec& s) { s.cpus = 0; });
  bad([](QemuSpec& s) { s.kernel = "rel/vmlinuz"; });
  bad([](QemuSpec& s) { s.initrd = "/i"; });
  bad([](QemuSpec& s) { s.append = "quiet"; });
}

TEST(QemuCommand, ResolveAccel) {
  EXPECT_EQ(resolve_accel("auto", true), "kvm");
  EXPECT_EQ(resolve_accel("auto", false), "tcg");
  EXPECT_EQ(resolve_accel("kvm", false), "kvm");
  EXPECT_EQ(resolve_accel("tcg", true), "tcg");
  EXPECT_THROW(resolve_accel("xen", true), QemuSpecError);
  EXPECT_THROW(resolve_accel("", true), QemuSpecError);
}

TEST(QemuCommand, FdsetPath) { EXPECT_EQ(fdset_path(3), "/dev/fdset/3"); }
