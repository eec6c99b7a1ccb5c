// Snapshot names, the cheap plausibility filter in front of the database lookup, and the MB
// rounding the quota is charged in.
#include "vm/snapshot_naming.h"

#include <gtest/gtest.h>

using namespace vmshare::vm;

namespace {

TEST(SnapshotNaming, PlatformFormat) {
  EXPECT_EQ(snapshot_name(7, "tiny", "abc123"), "7__tiny__abc123.qcow2");
  EXPECT_EQ(snapshot_name(7, "tiny", "abc123", "x9f0a1"), "7__tiny__abc123-x9f0a1.qcow2");
  EXPECT_EQ(snapshot_name(1234567890123, "debian-12", "Vm01"), "1234567890123__debian-12__Vm01.qcow2");
}

TEST(SnapshotNaming, OwnNamesArePlausible) {
  EXPECT_TRUE(plausible_snapshot_name(snapshot_name(7, "tiny", "abc123")));
  EXPECT_TRUE(plausible_snapshot_name(snapshot_name(7, "tiny", "abc123", "x9f0a1")));
  EXPECT_TRUE(plausible_snapshot_name(snapshot_name(42, "my_os-2", "ABCdef09")));
}

TEST(SnapshotNaming, CraftedNamesAreRejected) {
  for (const char* bad : {
           "../x", "/etc/passwd", "1__tiny__abc.qcow2/../..", "../vmshare.db", "..", ".", "",
           "/work/main/var/snapshots/1/1__tiny__abc.qcow2", "1__tiny__abc.qcow2/", "snapshots/1/1__tiny__abc.qcow2",
           "1__tiny__../abc.qcow2", "1__tiny__abc.qcow2\n", "1__tiny__abc.qcow2%00", "%2e%2e%2f",
           "1__tiny__abc.raw", "1__tiny__abc", "__tiny__abc.qcow2", "x__tiny__abc.qcow2",
           "-1__tiny__abc.qcow2", "1__TINY__abc.qcow2", "1__tiny__ab c.qcow2", "1__tiny__abc.qcow2.qcow2",
           "1__tiny__abc-.qcow2", "1__tiny__abc-X.qcow2", "1___tiny__abc.qcow2x", "1__tiny__abc\\..qcow2",
       })
    EXPECT_FALSE(plausible_snapshot_name(bad)) << bad;
  // With an embedded NUL the std::string is longer than the C string: still rejected.
  EXPECT_FALSE(plausible_snapshot_name(std::string("1__tiny__abc.qcow2\0/../x", 24)));
}

TEST(SnapshotNaming, OverLongNamesAreRejected) {
  EXPECT_TRUE(plausible_snapshot_name("1__tiny__" + std::string(64, 'a') + ".qcow2"));
  EXPECT_FALSE(plausible_snapshot_name("1__tiny__" + std::string(65, 'a') + ".qcow2"));
  EXPECT_FALSE(plausible_snapshot_name(std::string(20, '1') + "__tiny__abc.qcow2"));
  EXPECT_FALSE(plausible_snapshot_name("1__" + std::string(33, 'a') + "__abc.qcow2"));
  EXPECT_FALSE(plausible_snapshot_name("1__tiny__abc-" + std::string(17, 'a') + ".qcow2"));
  EXPECT_FALSE(plausible_snapshot_name(std::string(10000, 'a')));
}

TEST(SnapshotNaming, MegabytesRoundUp) {
  constexpr std::uint64_t MiB = 1 << 20;
  EXPECT_EQ(megabytes_rounded_up(0), 0);
  EXPECT_EQ(megabytes_rounded_up(1), 1);
  EXPECT_EQ(megabytes_rounded_up(MiB - 1), 1);
  EXPECT_EQ(megabytes_rounded_up(MiB), 1);
  EXPECT_EQ(megabytes_rounded_up(MiB + 1), 2);
  EXPECT_EQ(megabytes_rounded_up(300 * MiB), 300);
  EXPECT_EQ(megabytes_rounded_up(std::uint64_t{5} << 40), std::int64_t{5} << 20);
}

TEST(SnapshotNaming, ExpectedSizeCoversFootprintPlusMetadata) {
  constexpr std::uint64_t MiB = 1 << 20;
  EXPECT_EQ(expected_snapshot_mb(0), 1);  // the header alone
  for (std::uint64_t bytes : {MiB, 10 * MiB + 7, 256 * MiB, 2048 * MiB}) {
    EXPECT_GT(expected_snapshot_mb(bytes), megabytes_rounded_up(bytes)) << bytes;
    EXPECT_LE(expected_snapshot_mb(bytes), megabytes_rounded_up(bytes) * 101 / 100 + 2) << bytes;
  }
}

}  // namespace
