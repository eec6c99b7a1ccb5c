#include "vm/usb_drop_sandbox.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace vmshare::vm {
namespace {

using Argv = std::vector<std::string>;

// The part of `argv` after the n-th "--" (0: prlimit's options, 1: setpriv's, 2: the tool's).
Argv section(const Argv& argv, int n) {
  auto it = argv.begin();
  for (int i = 0; i < n; ++i) it = std::find(it, argv.end(), "--") + 1;
  return {it, std::find(it, argv.end(), "--")};
}

TEST(UsbDropSandbox, ConfinedVmReadsAsItsOwnUidWithLimits) {
  auto s = drop_sandbox_for(1900000003u, true);
  s.prlimit = "/usr/bin/prlimit";
  s.setpriv = "/usr/bin/setpriv";
  const Argv argv = sandboxed_argv(s, {"/usr/bin/mdir", "-a", "-b", "-i", kSandboxImagePath, "::/"});
  EXPECT_EQ(section(argv, 0), (Argv{"/usr/bin/prlimit", "--cpu=20:20", "--as=536870912:536870912", "--fsize=0:0",
                                    "--nofile=16:16", "--core=0:0"}));
  EXPECT_EQ(section(argv, 1), (Argv{"/usr/bin/setpriv", "--reuid=1900000003", "--regid=1900000003", "--clear-groups",
                                    "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs"}));
  EXPECT_EQ(section(argv, 2), (Argv{"/usr/bin/mdir", "-a", "-b", "-i", "/proc/self/fd/3", "::/"}));
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--"), 2);
}

TEST(UsbDropSandbox, UnconfinedKeepsTheUserButDropsWhatItCan) {
  const Argv root = sandboxed_argv(drop_sandbox_for(std::nullopt, true), {"mtype", "::/a"});
  EXPECT_EQ(section(root, 1),
            (Argv{"setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs"}));
  EXPECT_EQ(section(root, 2), (Argv{"mtype", "::/a"}));
  // Not root: emptying the bounding set needs CAP_SETPCAP, which setpriv would fail without.
  const Argv user = sandboxed_argv(drop_sandbox_for(std::nullopt, false), {"mtype", "::/a"});
  EXPECT_EQ(section(user, 1), (Argv{"setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--no-new-privs"}));
  EXPECT_EQ(section(user, 0), section(root, 0)) << "the same limits either way";
}

TEST(UsbDropSandbox, LimitsAreSoftAndHardAndRefusesRoot) {
  DropSandbox s = drop_sandbox_for(5000u, true);
  s.limits = {3, 1 << 20, 8};
  const Argv argv = sandboxed_argv(s, {"mdir"});
  EXPECT_EQ(section(argv, 0), (Argv{"prlimit", "--cpu=3:3", "--as=1048576:1048576", "--fsize=0:0", "--nofile=8:8",
                                    "--core=0:0"}));
  EXPECT_THROW(sandboxed_argv(drop_sandbox_for(0u, true), {"mdir"}), std::invalid_argument);
  EXPECT_THROW(sandboxed_argv(s, {}), std::invalid_argument);
}

}  // namespace
}  // namespace vmshare::vm
