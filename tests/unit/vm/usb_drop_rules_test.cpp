// The pure rules of dropping files into a VM: names, the stick's size, mdir's listing, QMP args.
#include <gtest/gtest.h>

#include "vm/usb_drop_rules.h"

namespace vmshare::vm {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

TEST(DropName, KeepsOrdinaryNamesAndUnicode) {
  EXPECT_EQ(sanitize_drop_name("report.pdf"), "report.pdf");
  EXPECT_EQ(sanitize_drop_name("hello world.txt"), "hello world.txt");
  EXPECT_EQ(sanitize_drop_name("Ünïcode naïve.txt"), "Ünïcode naïve.txt");
  EXPECT_EQ(sanitize_drop_name("日本語.txt"), "日本語.txt");
}

TEST(DropName, TakesTheLastPathComponent) {
  EXPECT_EQ(sanitize_drop_name("../../etc/passwd"), "passwd");
  EXPECT_EQ(sanitize_drop_name("C:\\Users\\me\\a.txt"), "a.txt");
  EXPECT_EQ(sanitize_drop_name("dir/"), "file");
}

TEST(DropName, NeverDotOrDotDotOrEmpty) {
  EXPECT_EQ(sanitize_drop_name(""), "file");
  EXPECT_EQ(sanitize_drop_name("."), "file");
  EXPECT_EQ(sanitize_drop_name(".."), "file");
  EXPECT_EQ(sanitize_drop_name(" ... "), "file");
  EXPECT_EQ(sanitize_drop_name(".hidden"), "hidden");
  EXPECT_EQ(sanitize_drop_name("trailing. "), "trailing");
}

TEST(DropName, ReplacesControlAndReservedCharacters) {
  EXPECT_EQ(sanitize_drop_name(std::string("a\nb\0c.txt", 9)), "a_b_c.txt");
  EXPECT_EQ(sanitize_drop_name("a*b?c<d>e|f\"g:h[i].txt"), "a_b_c_d_e_f_g_h_i_.txt");
  EXPECT_EQ(sanitize_drop_name("del\x7f.txt"), "del_.txt");
  EXPECT_EQ(sanitize_drop_name("bad\xff\xfe utf8.txt"), "bad__ utf8.txt");
  EXPECT_EQ(sanitize_drop_name("overlong\xc0\xaf.txt"), "overlong__.txt");
}

TEST(DropName, CutsLongNamesKeepingTheExtensionAndWholeCharacters) {
  const std::string long_name = std::string(300, 'x') + ".tar.gz";
  const auto cut = sanitize_drop_name(long_name);
  EXPECT_LE(cut.size(), kDropNameMaxBytes);
  EXPECT_TRUE(cut.ends_with(".gz"));
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += "é";  // 2 bytes each
  const auto w = sanitize_drop_name(wide + ".txt");
  EXPECT_LE(w.size(), kDropNameMaxBytes);
  EXPECT_TRUE(w.ends_with("é.txt")) << w;
}

TEST(DropName, DuplicatesGetANumberIgnoringCase) {
  std::set<std::string> taken;
  EXPECT_EQ(unique_drop_name("a.txt", taken), "a.txt");
  EXPECT_EQ(unique_drop_name("A.TXT", taken), "A (2).TXT");
  EXPECT_EQ(unique_drop_name("a.txt", taken), "a (3).txt");
  EXPECT_EQ(unique_drop_name("noext", taken), "noext");
  EXPECT_EQ(unique_drop_name("noext", taken), "noext (2)");
  const std::string longest(kDropNameMaxBytes, 'y');
  EXPECT_EQ(unique_drop_name(longest, taken), longest);
  const auto second = unique_drop_name(longest, taken);
  EXPECT_LE(second.size(), kDropNameMaxBytes);
  EXPECT_TRUE(second.ends_with(" (2)"));
}

TEST(DropName, OnlyPlainNamesAreFetchedFromTheStick) {
  EXPECT_TRUE(fetchable_stick_name("back.txt"));
  EXPECT_TRUE(fetchable_stick_name("日本語.txt"));
  EXPECT_FALSE(fetchable_stick_name("*.txt"));
  EXPECT_FALSE(fetchable_stick_name("a?"));
  EXPECT_FALSE(fetchable_stick_name("[ab]"));
  EXPECT_FALSE(fetchable_stick_name("a/b"));
  EXPECT_FALSE(fetchable_stick_name("line\nbreak"));
  EXPECT_FALSE(fetchable_stick_name(".."));
  EXPECT_FALSE(fetchable_stick_name(""));
}

TEST(DropStick, SizeHasRoomForFilesTablesAndSlack) {
  EXPECT_EQ(drop_stick_bytes(0, 0, 64 * kMiB), 8 * kMiB);  // the smallest stick
  EXPECT_EQ(drop_stick_bytes(10, 1, 64 * kMiB), 8 * kMiB);
  const auto s = drop_stick_bytes(40 * kMiB, 3, 128 * kMiB);
  EXPECT_EQ(s % kMiB, 0u);
  EXPECT_GE(s, 40 * kMiB + 10 * kMiB);  // the payload and a quarter of it as slack
  EXPECT_LE(s, 56 * kMiB);
  // Many small files each take a cluster.
  EXPECT_GE(drop_stick_bytes(1000, 1000, 1024 * kMiB), 1000 * 4096u);
}

TEST(DropStick, TooLargeForTheCapIsZero) {
  EXPECT_EQ(drop_stick_bytes(64 * kMiB, 1, 64 * kMiB), 0u);
  EXPECT_EQ(drop_stick_bytes(0, 0, 4 * kMiB), 0u);
  EXPECT_EQ(drop_stick_bytes(UINT64_MAX, 1, UINT64_MAX), 0u);
  EXPECT_EQ(drop_stick_bytes(1, UINT64_MAX, UINT64_MAX), 0u);
  EXPECT_EQ(drop_stick_mb(8 * kMiB), 8);
  EXPECT_EQ(drop_stick_mb(8 * kMiB + 1), 9);
}

TEST(DropStick, PayloadBudgetIsTheLargestThatFits) {
  const auto budget = drop_payload_budget(64 * kMiB, 256);
  EXPECT_GT(budget, 40 * kMiB);
  EXPECT_NE(drop_stick_bytes(budget, 256, 64 * kMiB), 0u);
  EXPECT_EQ(drop_stick_bytes(budget + 1, 256, 64 * kMiB), 0u);
  EXPECT_EQ(drop_payload_budget(4 * kMiB, 1), 0u);
}

TEST(DropStick, MdirBareListingKeepsRootFilesOnly) {
  const std::string out =
      "::/hello world.txt\n::/\xc3\x9cn.txt\n::/sub/\n garbage\n::/back.txt\r\n::/\n";
  EXPECT_EQ(parse_mdir_bare(out), (std::vector<std::string>{"hello world.txt", "\xc3\x9cn.txt", "back.txt"}));
  EXPECT_TRUE(parse_mdir_bare("").empty());
  EXPECT_EQ(parse_mdir_bare("::/last-without-newline"), (std::vector<std::string>{"last-without-newline"}));
}

TEST(DropStick, QmpArguments) {
  EXPECT_EQ(drop_blockdev_args("drop-1", "/dev/fdset/7").dump(),
            R"({"driver":"raw","file":{"driver":"file","filename":"/dev/fdset/7"},"node-name":"drop-1"})");
  EXPECT_EQ(drop_device_args("drop-1-dev", "drop-1", "usb.0").dump(),
            R"({"bus":"usb.0","drive":"drop-1","driver":"usb-storage","id":"drop-1-dev","removable":true})");
}

TEST(DropStick, MformatFillsTheImage) {
  const auto argv = drop_mformat_argv("/d/stick.img", 8 * kMiB);
  EXPECT_EQ(argv.front(), "mformat");
  EXPECT_EQ(argv.back(), "::");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "16384"), argv.end());
}

}  // namespace
}  // namespace vmshare::vm

namespace vmshare::vm {
namespace {

TEST(DropStick, OwnDeviceIdsAreRecognised) {
  EXPECT_TRUE(is_drop_device_id("drop-a1b2c3d4e5-dev"));
  EXPECT_EQ(drop_node_of_device("drop-a1b2c3d4e5-dev"), "drop-a1b2c3d4e5");
  for (const char* other : {"usb", "drop-a1b2c3d4e5", "drop-A1B2C3D4E5-dev", "drop-a1b2c3d4e-dev", "drop-a1b2c3d4e5x-dev",
                            "drop-a1b2/3d4e5-dev", "xdrop-a1b2c3d4e5-dev", ""}) {
    EXPECT_FALSE(is_drop_device_id(other)) << other;
    EXPECT_EQ(drop_node_of_device(other), "") << other;
  }
}

}  // namespace
}  // namespace vmshare::vm
