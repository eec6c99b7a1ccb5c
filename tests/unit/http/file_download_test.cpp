// The answer every file download gives (snapshots, recordings, dropped files): status, headers
// and which bytes of the file go out, decided without touching the disk.
#include "http/file_download.h"

#include <unistd.h>

#include <cstdio>
#include <optional>

#include <gtest/gtest.h>

namespace vmshare::http {
namespace {

const FileDownload kFile{"/srv/f.bin", 1000, "attachment; filename=\"f.bin\""};

std::optional<std::string> header_of(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return std::nullopt;
}

Response answer(const std::string& range) { return file_download_response(kFile, &range); }

TEST(FileDownload, NoRangeSendsTheWholeFile) {
  const auto r = file_download_response(kFile, nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(header_of(r, "Accept-Ranges"), "bytes");
  EXPECT_EQ(header_of(r, "Content-Disposition"), "attachment; filename=\"f.bin\"");
  EXPECT_EQ(header_of(r, "Cache-Control"), "private, no-store");
  EXPECT_FALSE(header_of(r, "Content-Range"));
  ASSERT_TRUE(r.file);
  EXPECT_EQ(r.file->path, "/srv/f.bin");
  EXPECT_EQ(r.file->offset, 0u);
  EXPECT_EQ(r.file->length, 1000u);
  EXPECT_TRUE(r.body.empty());
}

TEST(FileDownload, OneRangeIs206WithThoseBytes) {
  const auto r = answer("bytes=100-199");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(header_of(r, "Content-Range"), "bytes 100-199/1000");
  EXPECT_EQ(header_of(r, "Accept-Ranges"), "bytes");
  EXPECT_EQ(header_of(r, "Content-Disposition"), "attachment; filename=\"f.bin\"");
  ASSERT_TRUE(r.file);
  EXPECT_EQ(r.file->offset, 100u);
  EXPECT_EQ(r.file->length, 100u);
}

TEST(FileDownload, ResumeAndSuffixRangesEndAtTheLastByte) {
  const auto rest = answer("bytes=900-");
  EXPECT_EQ(rest.status, 206);
  EXPECT_EQ(header_of(rest, "Content-Range"), "bytes 900-999/1000");
  EXPECT_EQ(rest.file->length, 100u);
  const auto tail = answer("bytes=-10");
  EXPECT_EQ(header_of(tail, "Content-Range"), "bytes 990-999/1000");
  EXPECT_EQ(tail.file->offset, 990u);
}

TEST(FileDownload, RangePastTheEndIs416WithTheSize) {
  const auto r = answer("bytes=1000-");
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"detail":"Requested range not satisfiable"})");
  EXPECT_EQ(header_of(r, "Content-Range"), "bytes */1000");
  EXPECT_FALSE(r.file);
  EXPECT_FALSE(header_of(r, "Content-Disposition"));
}

TEST(FileDownload, OddRangesSendTheWholeFile) {
  for (const std::string range : {"bytes=0-1,5-9", "items=0-5", "bytes=9-3", "bytes=x-"}) {
    const auto r = answer(range);
    EXPECT_EQ(r.status, 200) << range;
    EXPECT_EQ(r.file->length, 1000u) << range;
  }
}

TEST(FileDownload, EmptyFileIsAnEmpty200) {
  const auto r = file_download_response({"/srv/empty", 0, "attachment"}, nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.file->length, 0u);
}

TEST(AttachmentDisposition, PlainNamesKeepTheirSpelling) {
  EXPECT_EQ(attachment_disposition("notes.txt"), "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt");
}

TEST(AttachmentDisposition, NamesCannotBreakTheHeader) {
  EXPECT_EQ(attachment_disposition("a\"b\\c;d\r\ne"),
            "attachment; filename=\"a_b_c_d__e\"; filename*=UTF-8''a%22b%5Cc%3Bd%0D%0Ae");
  EXPECT_EQ(attachment_disposition("HELLO (2).TXT"),
            "attachment; filename=\"HELLO (2).TXT\"; filename*=UTF-8''HELLO%20%282%29.TXT");
  EXPECT_EQ(attachment_disposition("\xc3\xa9t\xc3\xa9.txt"), "attachment; filename=\"__t__.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt");
}

TEST(FileSize, RegularFilesOnly) {
  char path[] = "/tmp/vmshare-file-download-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "12345", 5), 5);
  ::close(fd);
  EXPECT_EQ(file_size(path), 5u);
  std::remove(path);
  EXPECT_FALSE(file_size(path));
  EXPECT_FALSE(file_size("/tmp"));
}

}  // namespace
}  // namespace vmshare::http
