#include "vm/image_tool.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace vmshare::vm;

using Argv = std::vector<std::string>;

TEST(ImageToolArgv, CreateOverlay) {
  EXPECT_EQ(create_overlay_argv("qemu-img", "/b/base.qcow2", "/o/ov.qcow2"),
            (Argv{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "/b/base.qcow2",
                  "/o/ov.qcow2"}));
}

TEST(ImageToolArgv, CreateBlank) {
  EXPECT_EQ(create_blank_argv("/usr/bin/qemu-img", "/x.qcow2", 1048576),
            (Argv{"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "/x.qcow2", "1048576"}));
}

TEST(ImageToolArgv, Info) {
  EXPECT_EQ(image_info_argv("qemu-img", "/x"), (Argv{"qemu-img", "info", "--output=json", "/x"}));
  EXPECT_EQ(image_info_argv("qemu-img", "/x", "qcow2", true),
            (Argv{"qemu-img", "info", "--output=json", "-f", "qcow2", "-U", "/x"}));
}

TEST(ImageToolArgv, Flatten) {
  EXPECT_EQ(flatten_argv("qemu-img", "/s", "/d"),
            (Argv{"qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", "/s", "/d"}));
  EXPECT_EQ(flatten_argv("qemu-img", "/s", "/d", "raw")[4], "raw");
}

// Captured from qemu-img 7.2 (tests/unit/vm/data).
TEST(ImageInfoParse, Overlay) {
  auto i = parse_image_info(test::read_file(test::source_path("tests/unit/vm/data/info_overlay.json")));
  EXPECT_EQ(i.format, "qcow2");
  EXPECT_EQ(i.virtual_size, 67108864u);
  EXPECT_EQ(i.actual_size, 200704u);
  EXPECT_EQ(i.backing_filename, "/tmp/qt/base.qcow2");
  EXPECT_EQ(i.backing_format, "qcow2");
  EXPECT_TRUE(i.data_file.empty());
  EXPECT_TRUE(i.references_other_files());
}

TEST(ImageInfoParse, DataFile) {
  auto i = parse_image_info(test::read_file(test::source_path("tests/unit/vm/data/info_data_file.json")));
  EXPECT_EQ(i.format, "qcow2");
  EXPECT_TRUE(i.backing_filename.empty());
  EXPECT_EQ(i.data_file, "/tmp/qt/df.raw");
  EXPECT_TRUE(i.references_other_files());
}

TEST(ImageInfoParse, Raw) {
  auto i = parse_image_info(test::read_file(test::source_path("tests/unit/vm/data/info_raw.json")));
  EXPECT_EQ(i.format, "raw");
  EXPECT_EQ(i.virtual_size, 1048576u);
  EXPECT_FALSE(i.references_other_files());
}

TEST(ImageInfoParse, Malformed) {
  EXPECT_THROW(parse_image_info("nope"), ImageError);
  EXPECT_THROW(parse_image_info("[]"), ImageError);
  EXPECT_THROW(parse_image_info(R"({"format":"raw"})"), ImageError);
  EXPECT_THROW(parse_image_info(R"({"format":"raw","virtual-size":-1})"), ImageError);
}

// Against the real qemu-img.
TEST(ImageToolReal, CreateOverlayInfoFlatten) {
  test::TempDir dir;
  ImageTool tool;
  tool.create_blank(dir / "base.qcow2", 32 << 20);
  tool.create_overlay(dir / "base.qcow2", dir / "ov.qcow2");
  auto ov = tool.image_info(dir / "ov.qcow2", "qcow2");
  EXPECT_EQ(ov.format, "qcow2");
  EXPECT_EQ(ov.virtual_size, 32u << 20);
  EXPECT_EQ(ov.backing_filename, dir / "base.qcow2");
  tool.flatten(dir / "ov.qcow2", dir / "flat.qcow2");
  auto flat = tool.image_info(dir / "flat.qcow2");
  EXPECT_EQ(flat.format, "qcow2");
  EXPECT_EQ(flat.virtual_size, 32u << 20);
  EXPECT_FALSE(flat.references_other_files());
}

TEST(ImageToolReal, FailureIsImageErrorWithDetail) {
  test::TempDir dir;
  ImageTool tool;
  try {
    tool.create_overlay(dir / "missing.qcow2", dir / "ov.qcow2");
    FAIL();
  } catch (const ImageError& e) {
    EXPECT_EQ(std::string(e.what()), "creating the disk overlay failed");  // no server path
    EXPECT_NE(e.detail.find("missing.qcow2"), std::string::npos) << e.detail;
  }
  EXPECT_THROW(ImageTool("/nonexistent/qemu-img").create_blank(dir / "x", 1 << 20), ImageError);
}
