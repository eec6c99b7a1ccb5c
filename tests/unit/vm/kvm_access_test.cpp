#include "vm/kvm_access.h"

#include <gtest/gtest.h>

using namespace vmshare::vm;

// /dev/kvm as hosts ship it, judged for a confined QEMU (uid 1900000000, maybe group kvm = 993).
TEST(KvmAccess, DecidedForTheVmsUserNotRoot) {
  const std::vector<gid_t> kvm{993}, none{};
  EXPECT_TRUE(device_usable_by({0660, 0, 993}, 1900000000, kvm));     // Debian: root:kvm 0660
  EXPECT_FALSE(device_usable_by({0660, 0, 993}, 1900000000, none));   // no kvm group given
  EXPECT_FALSE(device_usable_by({0600, 0, 0}, 1900000000, kvm));      // this sandbox: root:root 0600
  EXPECT_TRUE(device_usable_by({0666, 0, 0}, 1900000000, none));      // world read-write
  EXPECT_FALSE(device_usable_by({0640, 0, 993}, 1900000000, kvm));    // read is not enough
  // The first matching class decides, even when "other" would allow more.
  EXPECT_FALSE(device_usable_by({0606, 0, 993}, 1900000000, kvm));
  EXPECT_TRUE(device_usable_by({0600, 1900000000, 0}, 1900000000, none));
}

TEST(KvmAccess, MissingDeviceIsNotUsableAndSaysWhy) {
  auto v = probe_kvm_for(true, 1900000000, {}, "/nonexistent/kvm");
  EXPECT_FALSE(v.usable);
  EXPECT_NE(v.why.find("missing"), std::string::npos);
  v = probe_kvm_for(true, 1900000000, {}, "/etc/hostname");
  EXPECT_FALSE(v.usable);
}
