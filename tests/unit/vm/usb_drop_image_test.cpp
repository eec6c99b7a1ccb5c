// The confined read-back of a stick (usb_drop_sandbox.h) with the real mtools: it reads the
// sealed copy, and (as root) runs as the uid it was given, which cannot open vmshare's image.
#include "vm/usb_drop_image.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "vm/host_files.h"
#include "vm/run_command.h"
#include "vm/usb_drop_errors.h"

namespace vmshare::vm {
namespace {

namespace fs = std::filesystem;

class UsbDropImage : public ::testing::Test {
 protected:
  void SetUp() override {
    if (resolve_in_path("mdir").find('/') == std::string::npos) GTEST_SKIP() << "mtools is not installed";
    char tmpl[] = "/tmp/vmshare-drop-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;  // 0700, like vmshare's drops folder
    image_ = dir_ + "/stick.img";
    {
      UniqueFd fd = create_exclusive(image_);
      ASSERT_EQ(::ftruncate(fd.get(), 8 << 20), 0);
    }
    std::ofstream(dir_ + "/hello.txt") << "hello\n";
    tool_.format(image_, 8 << 20);
    tool_.copy_in(image_, {dir_ + "/hello.txt"});
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string dir_, image_;
  DropImageTool tool_;
};

TEST_F(UsbDropImage, TheCopyIsSealedAndCapped) {
  UniqueFd copy = DropImageTool::sealed_copy(image_, 8 << 20);
  EXPECT_EQ(::lseek(copy.get(), 0, SEEK_END), 8 << 20);
  EXPECT_EQ(::pwrite(copy.get(), "x", 1, 0), -1) << "written through a sealed copy";
  EXPECT_EQ(::ftruncate(copy.get(), 0), -1);
  EXPECT_THROW(DropImageTool::sealed_copy(image_, (8 << 20) - 1), DropStickError);
  fs::create_symlink(image_, dir_ + "/link.img");
  EXPECT_ANY_THROW(DropImageTool::sealed_copy(dir_ + "/link.img", 8 << 20));
}

TEST_F(UsbDropImage, ListsAndReadsTheCopyUnconfined) {
  UniqueFd copy = DropImageTool::sealed_copy(image_, 8 << 20);
  const auto sandbox = tool_.sandbox_for(std::nullopt);
  EXPECT_EQ(tool_.list(copy.get(), sandbox), std::vector<std::string>{"hello.txt"});
  EXPECT_EQ(tool_.read(copy.get(), sandbox, "hello.txt", 100), "hello\n");
  EXPECT_THROW(tool_.read(copy.get(), sandbox, "hello.txt", 3), DropFileTooLarge);
  EXPECT_THROW(tool_.read(copy.get(), sandbox, "nope.txt", 100), DropStickError);
}

// The uid switch is real: the same sandbox reads the copy it was handed, but not vmshare's
// image by path, which a reader running as vmshare (root here) would.
TEST_F(UsbDropImage, AsRootReadsAsTheVmsUidWhichCannotOpenTheImage) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching uid needs root";
  const auto sandbox = tool_.sandbox_for(1999999990u);
  UniqueFd copy = DropImageTool::sealed_copy(image_, 8 << 20);
  EXPECT_EQ(tool_.list(copy.get(), sandbox), std::vector<std::string>{"hello.txt"});
  EXPECT_EQ(tool_.read(copy.get(), sandbox, "hello.txt", 100), "hello\n");

  RunOptions o;
  o.pass_fd = copy.get();
  o.cwd = "/";
  const auto direct = run_command(sandboxed_argv(sandbox, {"mdir", "-b", "-i", image_, "::/"}), o);
  EXPECT_FALSE(direct.ok());
  EXPECT_NE(direct.err.find("Permission denied"), std::string::npos) << direct.err;
  const auto who = run_command(sandboxed_argv(sandbox, {"sh", "-c", "id -u; grep NoNewPrivs /proc/self/status; ulimit -f"}), o);
  EXPECT_EQ(who.out, "1999999990\nNoNewPrivs:\t1\n0\n") << who.err;
}

}  // namespace
}  // namespace vmshare::vm
