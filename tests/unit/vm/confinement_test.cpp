#include "vm/confinement.h"

#include <gtest/gtest.h>

namespace vmshare::vm {
namespace {

TEST(Confinement, ModeParsingAndWhenItApplies) {
  EXPECT_EQ(parse_confine_mode("auto"), ConfineMode::automatic);
  EXPECT_EQ(parse_confine_mode("on"), ConfineMode::on);
  EXPECT_EQ(parse_confine_mode("off"), ConfineMode::off);
  EXPECT_THROW(parse_confine_mode("yes"), std::invalid_argument);

  EXPECT_TRUE(confinement_active(ConfineMode::automatic, true));
  EXPECT_FALSE(confinement_active(ConfineMode::automatic, false));
  EXPECT_FALSE(confinement_active(ConfineMode::off, true));
  EXPECT_TRUE(confinement_active(ConfineMode::on, true));
  EXPECT_THROW(confinement_active(ConfineMode::on, false), std::runtime_error);
}

TEST(Confinement, PicksTheLowestFreeUid) {
  EXPECT_EQ(pick_vm_uid({}, 5000, 3), 5000u);
  EXPECT_EQ(pick_vm_uid({5000, 5002}, 5000, 3), 5001u);
  EXPECT_EQ(pick_vm_uid({5001}, 5000, 3), 5000u);
  EXPECT_EQ(pick_vm_uid({5000, 5001, 5002}, 5000, 3), std::nullopt);
  // uids of other ranges (or 0 for unconfined records) do not take a slot
  EXPECT_EQ(pick_vm_uid({0, 4999, 5003}, 5000, 1), 5000u);
  // never wraps around past the largest uid
  EXPECT_EQ(pick_vm_uid({4294967294u}, 4294967294u, 5), std::nullopt);
}

TEST(Confinement, DropsEveryPrivilegeBeforeQemu) {
  auto argv = drop_privileges_argv({1900000003, 1900000003, {}}, {"qemu-system-x86_64", "-name", "x"});
  const std::vector<std::string> expected{"setpriv",          "--reuid=1900000003", "--regid=1900000003",
                                          "--clear-groups",   "--inh-caps=-all",    "--ambient-caps=-all",
                                          "--bounding-set=-all", "--no-new-privs",  "--",
                                          "qemu-system-x86_64", "-name",            "x"};
  EXPECT_EQ(argv, expected);
  auto with_kvm = drop_privileges_argv({7000, 7000, {108}}, {"qemu"});
  EXPECT_EQ(with_kvm[3], "--groups=108");
  EXPECT_THROW(drop_privileges_argv({0, 7000, {}}, {"qemu"}), std::invalid_argument);
  EXPECT_THROW(drop_privileges_argv({7000, 0, {}}, {"qemu"}), std::invalid_argument);
}

}  // namespace
}  // namespace vmshare::vm
