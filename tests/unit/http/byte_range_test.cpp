// Range headers for snapshot downloads: one range is honoured, anything odd serves the whole
// file, and a range past the end is 416.
#include "http/byte_range.h"

#include <gtest/gtest.h>

namespace vmshare::http {
namespace {

RangeDecision decide(const std::string& header, std::uint64_t size) { return decide_range(&header, size); }

void expect_partial(const std::string& header, std::uint64_t size, std::uint64_t first, std::uint64_t last) {
  auto d = decide(header, size);
  ASSERT_EQ(d.kind, RangeKind::partial) << header;
  EXPECT_EQ(d.range.first, first) << header;
  EXPECT_EQ(d.range.last, last) << header;
  EXPECT_EQ(d.range.length(), last - first + 1) << header;
}

void expect_kind(const std::string& header, std::uint64_t size, RangeKind kind) {
  EXPECT_EQ(decide(header, size).kind, kind) << header;
}

TEST(ByteRange, NoHeaderIsWhole) { EXPECT_EQ(decide_range(nullptr, 1000).kind, RangeKind::whole); }

TEST(ByteRange, FirstAndLast) {
  expect_partial("bytes=0-99", 1000, 0, 99);
  expect_partial("bytes=0-0", 1000, 0, 0);
  expect_partial("bytes=500-999", 1000, 500, 999);
  expect_partial("bytes=999-999", 1000, 999, 999);
}

TEST(ByteRange, LastBeyondSizeIsClamped) {
  expect_partial("bytes=0-1023", 1000, 0, 999);
  expect_partial("bytes=900-18446744073709551615", 1000, 900, 999);
}

TEST(ByteRange, OpenEndedFromOffset) {
  expect_partial("bytes=100-", 1000, 100, 999);
  expect_partial("bytes=0-", 1000, 0, 999);
  expect_partial("bytes=999-", 1000, 999, 999);
}

TEST(ByteRange, Suffix) {
  expect_partial("bytes=-100", 1000, 900, 999);
  expect_partial("bytes=-1", 1000, 999, 999);
  expect_partial("bytes=-5000", 1000, 0, 999);  // longer than the file: all of it
}

TEST(ByteRange, BeyondSizeIsUnsatisfiable) {
  expect_kind("bytes=1000-", 1000, RangeKind::unsatisfiable);
  expect_kind("bytes=1000-2000", 1000, RangeKind::unsatisfiable);
  expect_kind("bytes=5000-", 1000, RangeKind::unsatisfiable);
  expect_kind("bytes=-0", 1000, RangeKind::unsatisfiable);
  expect_kind("bytes=0-", 0, RangeKind::unsatisfiable);  // an empty file has no byte 0
  expect_kind("bytes=-10", 0, RangeKind::unsatisfiable);
}

TEST(ByteRange, MalformedIsWhole) {
  for (const char* h : {"", "bytes", "bytes=", "bytes=-", "bytes=abc-def", "bytes=1-x", "bytes=x-1",
                        "bytes=100", "bytes=99-10", "bytes= 0-99", "bytes=0-99 ", "bytes=+5-10",
                        "bytes=--5", "bytes=0x10-20", "items=0-99", "Bytes=0-99", "0-99",
                        "bytes=99999999999999999999999-", "bytes=-99999999999999999999999"})
    expect_kind(h, 1000, RangeKind::whole);
}

TEST(ByteRange, MultipleRangesAreWhole) {
  expect_kind("bytes=0-99,200-299", 1000, RangeKind::whole);
  expect_kind("bytes=0-99, 200-299", 1000, RangeKind::whole);
  expect_kind("bytes=-1,0-0", 1000, RangeKind::whole);
  expect_kind("bytes=5000-,6000-", 1000, RangeKind::whole);  // not 416: we never evaluate lists
}

}  // namespace
}  // namespace vmshare::http
