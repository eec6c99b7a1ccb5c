#include "vm/iso_store.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace vmshare::vm {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

constexpr std::uint64_t kMiB = 1 << 20;

// 64 KiB of zeros with the ISO 9660 signature of the primary volume descriptor.
std::string fake_iso(std::size_t size = 64 * 1024, char fill = '\0') {
  std::string iso(size, fill);
  iso.replace(0x8001, 5, "CD001");
  return iso;
}

void write_in_chunks(IsoUpload& upload, const std::string& data, std::size_t chunk) {
  for (std::size_t pos = 0; pos < data.size(); pos += chunk)
    upload.write(std::string_view(data).substr(pos, chunk));
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

unsigned mode_of(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(IsoStore, CreatesAPrivateFolderAndNamesFilesByUser) {
  TempDir tmp;
  fs::create_directories(tmp / "data/isos");
  ::chmod((tmp / "data/isos").c_str(), 0755);
  IsoStore store(tmp / "data", kMiB);
  EXPECT_EQ(store.dir(), tmp / "data/isos");
  EXPECT_EQ(mode_of(tmp / "data/isos"), 0700u);  // tightened when it already existed
  EXPECT_EQ(store.path_for(42), tmp / "data/isos/42.iso");
  EXPECT_FALSE(store.has_iso(42));
  EXPECT_EQ(store.size_of(42), 0u);
  EXPECT_THROW(store.path_for(0), std::invalid_argument);
  EXPECT_THROW(store.begin_upload(-1), std::invalid_argument);
}

TEST(IsoStore, SavesAValidIso) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  const auto iso = fake_iso();
  auto upload = store.begin_upload(7);
  write_in_chunks(upload, iso, 1000);
  EXPECT_EQ(upload.size(), iso.size());
  EXPECT_EQ(upload.commit(), iso.size());
  EXPECT_TRUE(store.has_iso(7));
  EXPECT_EQ(store.size_of(7), iso.size());
  EXPECT_EQ(test::read_file(store.path_for(7)), iso);
  EXPECT_EQ(mode_of(store.path_for(7)), 0600u);
  EXPECT_EQ(entries(store.dir()), std::vector<std::string>{"7.iso"});
}

TEST(IsoStore, TheTemporaryFileIsServerNamedPrivateAndUnique) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  auto a = store.begin_upload(1);
  auto b = store.begin_upload(1);
  a.write("x");
  auto names = entries(store.dir());
  ASSERT_EQ(names.size(), 2u);
  for (const auto& n : names) {
    EXPECT_TRUE(n.starts_with(".upload-") && n.ends_with(".part")) << n;
    EXPECT_EQ(n.size(), std::string(".upload-").size() + 32 + std::string(".part").size()) << n;
    EXPECT_EQ(mode_of(store.dir() + "/" + n), 0600u);
  }
  EXPECT_NE(names[0], names[1]);
}

TEST(IsoStore, RefusesANonIsoAndRemovesThePartialFile) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  auto upload = store.begin_upload(3);
  // Refused as soon as the signature bytes have passed, not at the end.
  upload.write(std::string(0x8000, 'x'));
  EXPECT_THROW(upload.write(std::string(0x1000, 'x')), IsoInvalid);
  EXPECT_TRUE(entries(store.dir()).empty());
  EXPECT_FALSE(store.has_iso(3));
  EXPECT_THROW(upload.write("more"), IsoStoreError);
}

TEST(IsoStore, RefusesAFileShorterThanTheSignature) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  for (std::size_t size : {std::size_t{0}, std::size_t{100}, std::size_t{0x8005}}) {
    auto upload = store.begin_upload(3);
    upload.write(fake_iso().substr(0, size));
    try {
      upload.commit();
      FAIL() << "accepted " << size << " bytes";
    } catch (const IsoInvalid& e) {
      EXPECT_STREQ(e.what(), "The file is not an ISO 9660 image");
    }
    EXPECT_TRUE(entries(store.dir()).empty());
  }
  // Exactly up to the end of the signature is enough.
  auto upload = store.begin_upload(3);
  upload.write(fake_iso().substr(0, 0x8006));
  EXPECT_EQ(upload.commit(), 0x8006u);
}

TEST(IsoStore, SignatureSplitAcrossChunksIsRecognised) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  auto upload = store.begin_upload(3);
  write_in_chunks(upload, fake_iso(), 3);  // 0x8001 % 3 == 2: the signature straddles chunks
  EXPECT_EQ(upload.commit(), 64u * 1024);
}

TEST(IsoStore, RefusesAnUploadOverTheLimitBeforeWritingPastIt) {
  TempDir tmp;
  const std::uint64_t max = 64 * 1024;
  IsoStore store(tmp.path(), max);
  {
    auto upload = store.begin_upload(5);
    upload.write(fake_iso(max));
    try {
      upload.write("!");
      FAIL() << "no error";
    } catch (const IsoTooLarge& e) {
      EXPECT_EQ(e.max_bytes, max);
    }
    EXPECT_TRUE(entries(store.dir()).empty());
  }
  auto upload = store.begin_upload(5);  // exactly the limit is fine
  upload.write(fake_iso(max));
  EXPECT_EQ(upload.commit(), max);
  EXPECT_TRUE(store.has_iso(5));
}

TEST(IsoStore, AnInterruptedUploadLeavesNothing) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  {
    auto upload = store.begin_upload(9);
    upload.write(fake_iso().substr(0, 10000));
    EXPECT_EQ(entries(store.dir()).size(), 1u);
  }  // dropped without commit, as when the client disconnects
  EXPECT_TRUE(entries(store.dir()).empty());
  auto upload = store.begin_upload(9);
  upload.write("abc");
  upload.abort();
  upload.abort();
  EXPECT_TRUE(entries(store.dir()).empty());
}

TEST(IsoStore, MovedUploadsKeepOwnership) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  auto a = store.begin_upload(2);
  a.write(fake_iso().substr(0, 0x9000));
  IsoUpload b = std::move(a);
  b.write(fake_iso().substr(0x9000));
  EXPECT_EQ(b.commit(), 64u * 1024);
  EXPECT_EQ(entries(store.dir()), std::vector<std::string>{"2.iso"});
}

TEST(IsoStore, ASecondUploadReplacesTheFirstAndAFailedOneKeepsIt) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  auto first = store.begin_upload(4);
  first.write(fake_iso(64 * 1024, 'a'));
  first.commit();
  auto second = store.begin_upload(4);
  second.write(fake_iso(96 * 1024, 'b'));
  second.commit();
  EXPECT_EQ(test::read_file(store.path_for(4)), fake_iso(96 * 1024, 'b'));
  {
    auto bad = store.begin_upload(4);
    EXPECT_THROW(bad.write(std::string(40000, 'c')), IsoInvalid);  // not an ISO: refused mid-way
  }
  EXPECT_EQ(test::read_file(store.path_for(4)), fake_iso(96 * 1024, 'b'));
  EXPECT_TRUE(store.remove(4));
  EXPECT_FALSE(store.remove(4));
  EXPECT_FALSE(store.has_iso(4));
}

TEST(IsoStore, ASymlinkAtTheUsersNameIsReplacedNotFollowed) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB);
  test::write_file(tmp / "victim", "precious");
  fs::create_symlink(tmp / "victim", store.path_for(6));
  EXPECT_FALSE(store.has_iso(6));
  auto upload = store.begin_upload(6);
  upload.write(fake_iso());
  upload.commit();
  EXPECT_EQ(test::read_file(tmp / "victim"), "precious");
  EXPECT_FALSE(fs::is_symlink(store.path_for(6)));
  EXPECT_EQ(store.size_of(6), 64u * 1024);
}

TEST(IsoStore, RefusesASymlinkedFolder) {
  TempDir tmp;
  fs::create_directories(tmp / "elsewhere");
  fs::create_directories(tmp / "data");
  fs::create_directory_symlink(tmp / "elsewhere", tmp / "data/isos");
  EXPECT_THROW(IsoStore(tmp / "data", kMiB), IsoStoreError);
}

TEST(IsoStore, RemovesPartialUploadsLeftByACrash) {
  TempDir tmp;
  fs::create_directories(tmp / "isos");
  test::write_file(tmp / "isos/.upload-0123456789abcdef.part", "half");
  test::write_file(tmp / "isos/8.iso", "kept");
  test::write_file(tmp / "isos/.upload-.part", "not ours: the name is too short");
  IsoStore store(tmp.path(), kMiB);
  EXPECT_EQ(entries(store.dir()), (std::vector<std::string>{".upload-.part", "8.iso"}));
}

// ENOSPC through the write seam: works anywhere, no mount needed.
TEST(IsoStore, DiskFullThroughTheWriteSeamGivesAClearErrorAndNoPartialFile) {
  TempDir tmp;
  std::atomic<std::size_t> budget{40000};
  IsoStore store(tmp.path(), kMiB, [&](int fd, const void* data, std::size_t size) -> ssize_t {
    if (budget == 0) {
      errno = ENOSPC;
      return -1;
    }
    const auto n = std::min<std::size_t>({size, budget.load(), 777});  // short writes too
    budget -= n;
    return ::write(fd, data, n);
  });
  auto upload = store.begin_upload(1);
  try {
    write_in_chunks(upload, fake_iso(), 4096);
    FAIL() << "no error";
  } catch (const IsoStorageFull& e) {
    EXPECT_STREQ(e.what(), "Not enough disk space on the server to store the ISO");
  }
  EXPECT_TRUE(entries(store.dir()).empty());
}

TEST(IsoStore, OtherWriteErrorsNameTheErrorButNoPath) {
  TempDir tmp;
  IsoStore store(tmp.path(), kMiB, [](int, const void*, std::size_t) -> ssize_t {
    errno = EIO;
    return -1;
  });
  auto upload = store.begin_upload(1);
  try {
    upload.write("data");
    FAIL() << "no error";
  } catch (const IsoStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("Input/output error"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find(tmp.path()), std::string::npos);
  }
  EXPECT_TRUE(entries(store.dir()).empty());
}

// A real full disk: a 128 KiB tmpfs in a private mount namespace of a child process (needs
// CAP_SYS_ADMIN; skipped otherwise). The child reports through its exit code.
TEST(IsoStore, DiskFullOnATinyTmpfs) {
  TempDir tmp;
  const std::string mnt = tmp / "mnt";
  fs::create_directories(mnt);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=128k,mode=0700") != 0)
      ::_exit(77);
    try {
      IsoStore store(mnt, 16 * kMiB);
      auto upload = store.begin_upload(1);
      try {
        write_in_chunks(upload, fake_iso(kMiB), 64 * 1024);
        ::_exit(1);  // should not fit
      } catch (const IsoStorageFull&) {
      }
      if (!entries(store.dir()).empty()) ::_exit(2);
      // The space is free again: a small ISO fits.
      auto ok = store.begin_upload(1);
      ok.write(fake_iso(64 * 1024));
      ok.commit();
      ::_exit(store.size_of(1) == 64 * 1024 ? 0 : 3);
    } catch (...) {
      ::_exit(4);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot mount a tmpfs here";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace vmshare::vm
