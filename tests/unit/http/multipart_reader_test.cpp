#include "http/multipart_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace vmshare::http {
namespace {

// Records the reader's events as text so whole-body and chunked parses can be compared.
struct Recorder {
  std::vector<MultipartPart> parts;
  std::vector<std::string> data;  // one string per part, all its chunks joined
  std::vector<std::string> events;
  int data_calls = 0;
  bool ended = false;

  MultipartReader::Callbacks callbacks() {
    return {
        [this](const MultipartPart& p) {
          parts.push_back(p);
          data.emplace_back();
          events.push_back("begin " + p.name);
        },
        [this](std::string_view d) {
          ASSERT_FALSE(data.empty());
          data.back().append(d);
          ++data_calls;
        },
        [this] { events.push_back("end " + parts.back().name); },
        [this] {
          events.push_back("done");
          ended = true;
        },
    };
  }
};

const std::string kBoundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

std::string part(const std::string& headers, const std::string& body) {
  return "--" + kBoundary + "\r\n" + headers + "\r\n" + body + "\r\n";
}
std::string closing() { return "--" + kBoundary + "--\r\n"; }

std::string file_part(const std::string& name, const std::string& filename, const std::string& body) {
  return part("Content-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename +
                  "\"\r\nContent-Type: application/octet-stream\r\n",
              body);
}

// Parses `body` fed in the given chunk sizes (cycled); the last chunk takes the rest.
Recorder parse_in_chunks(const std::string& body, const std::vector<std::size_t>& sizes) {
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  std::size_t pos = 0, i = 0;
  while (pos < body.size()) {
    const std::size_t n = sizes.empty() ? body.size() : std::min(sizes[i++ % sizes.size()], body.size() - pos);
    reader.feed(std::string_view(body).substr(pos, n));
    pos += n;
  }
  reader.finish();
  return r;
}

Recorder parse_whole(const std::string& body) { return parse_in_chunks(body, {}); }

void expect_same(const Recorder& a, const Recorder& b) {
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.data, b.data);
  ASSERT_EQ(a.parts.size(), b.parts.size());
  for (std::size_t i = 0; i < a.parts.size(); ++i) {
    EXPECT_EQ(a.parts[i].name, b.parts[i].name);
    EXPECT_EQ(a.parts[i].filename, b.parts[i].filename);
    EXPECT_EQ(a.parts[i].content_type, b.parts[i].content_type);
  }
}

// Data meant to confuse a boundary search: CRLFs, dashes, and near-miss delimiters.
std::string tricky_data() {
  const std::string d = "\r\n--" + kBoundary;  // a full delimiter, always followed by other bytes below
  return "line1\r\nline2\r\n\r\n--\r\n--" + kBoundary.substr(0, 10) + "\r\n" + d + "X" + d + "-x" + d + "  y" + d +
         "\rz" + " --" + kBoundary + "\r\n" /* no CRLF before: not a delimiter */ + "\r\n-" + kBoundary + "\r\n" +
         "\r\n--" + kBoundary.substr(0, kBoundary.size() - 1) + "\r" + std::string(1, '\0') + "end\r";
}

std::string several_parts_body() {
  std::string binary;
  for (int i = 0; i < 3000; ++i) binary += static_cast<char>((i * 131) % 256);
  return "This is the preamble.\r\nIt is ignored.\r\n" + part("Content-Disposition: form-data; name=\"title\"\r\n", "Hello") +
         file_part("file", "disk.iso", tricky_data() + binary) + part("Content-Disposition: form-data; name=\"empty\"\r\n", "") +
         closing() + "This is the epilogue, also ignored.\r\n--" + kBoundary + "\r\n";
}

TEST(MultipartBoundary, ParsesTheContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;boundary=\"a b'()+_,-./:=?\""), "a b'()+_,-./:=?");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; BOUNDARY=xyz"), "xyz");
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=" + kBoundary), kBoundary);
}

TEST(MultipartBoundary, RejectsOtherTypesAndBadBoundaries) {
  EXPECT_EQ(multipart_boundary(""), std::nullopt);
  EXPECT_EQ(multipart_boundary("application/json"), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/mixed; boundary=abc"), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data"), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary="), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=\"\""), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=\"ends with space \""), std::nullopt);
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=a\rb"), std::nullopt);
  EXPECT_NE(multipart_boundary("multipart/form-data; boundary=" + std::string(70, 'a')), std::nullopt);
}

TEST(MultipartReader, RejectsAnEmptyOrLongBoundary) {
  EXPECT_THROW(MultipartReader("", {}), MultipartError);
  EXPECT_THROW(MultipartReader(std::string(71, 'x'), {}), MultipartError);
}

TEST(MultipartReader, ParsesOneFilePart) {
  auto r = parse_whole(file_part("file", "my disk.iso", "ISO DATA") + closing());
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].name, "file");
  EXPECT_EQ(r.parts[0].filename, "my disk.iso");
  EXPECT_EQ(r.parts[0].content_type, "application/octet-stream");
  EXPECT_EQ(r.data[0], "ISO DATA");
  EXPECT_EQ(r.events, (std::vector<std::string>{"begin file", "end file", "done"}));
  EXPECT_TRUE(r.ended);
}

TEST(MultipartReader, ParsesSeveralPartsWithPreambleAndEpilogue) {
  auto r = parse_whole(several_parts_body());
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_EQ(r.events, (std::vector<std::string>{"begin title", "end title", "begin file", "end file", "begin empty",
                                                 "end empty", "done"}));
  EXPECT_EQ(r.data[0], "Hello");
  EXPECT_EQ(r.parts[0].filename, std::nullopt);
  EXPECT_EQ(r.parts[0].content_type, "text/plain");
  EXPECT_TRUE(r.data[1].starts_with(tricky_data()));
  EXPECT_EQ(r.data[1].size(), tricky_data().size() + 3000);
  EXPECT_EQ(r.data[2], "");
}

TEST(MultipartReader, KeepsCrlfAndBoundaryLookalikesInsideData) {
  auto r = parse_whole(file_part("file", "a", tricky_data()) + closing());
  ASSERT_EQ(r.data.size(), 1u);
  EXPECT_EQ(r.data[0], tricky_data());
}

TEST(MultipartReader, ByteByByteMatchesWholeBody) {
  const auto body = several_parts_body();
  expect_same(parse_in_chunks(body, {1}), parse_whole(body));
}

TEST(MultipartReader, RandomSplitPointsMatchWholeBody) {
  const auto body = several_parts_body();
  const auto whole = parse_whole(body);
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::size_t> sizes;
    std::uniform_int_distribution<std::size_t> dist(1, round % 3 == 0 ? 8 : 200);
    for (int i = 0; i < 64; ++i) sizes.push_back(dist(rng));
    SCOPED_TRACE("round " + std::to_string(round));
    expect_same(parse_in_chunks(body, sizes), whole);
  }
}

TEST(MultipartReader, EverySingleSplitPointMatchesWholeBody) {
  const auto body = file_part("file", "x", tricky_data()) + closing();
  const auto whole = parse_whole(body);
  for (std::size_t cut = 1; cut < body.size(); ++cut) {
    Recorder r;
    MultipartReader reader(kBoundary, r.callbacks());
    reader.feed(std::string_view(body).substr(0, cut));
    reader.feed(std::string_view(body).substr(cut));
    reader.finish();
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_same(r, whole);
  }
}

TEST(MultipartReader, StreamsDataWithoutWaitingForTheBoundary) {
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  reader.feed(file_part("file", "a", "").substr(0, file_part("file", "a", "").size() - 2));  // headers only
  reader.feed(std::string(100000, 'z'));
  ASSERT_EQ(r.data.size(), 1u);
  EXPECT_EQ(r.data[0].size(), 100000u);  // nothing held back: no CR at the end
  reader.feed("abc\r\n-");
  EXPECT_EQ(r.data[0].size(), 100003u);  // "\r\n-" may start the delimiter
  reader.feed("-" + kBoundary + "--");
  reader.finish();
  EXPECT_EQ(r.data[0].size(), 100003u);
  EXPECT_TRUE(r.ended);
}

TEST(MultipartReader, FirstBoundaryMayFollowAPreambleOrOpenTheBody) {
  auto bare = parse_whole(file_part("file", "a", "x") + closing());
  auto with_preamble = parse_whole("junk--" + kBoundary + "\r\n\r\n" + file_part("file", "a", "x") + closing());
  expect_same(bare, with_preamble);  // "junk--boundary" is not at a line start: still preamble
}

TEST(MultipartReader, AcceptsTransportPaddingAndAPartWithoutHeaders) {
  auto r = parse_whole("--" + kBoundary + " \t\r\n\r\nno headers\r\n--" + kBoundary + "--");
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].name, "");
  EXPECT_EQ(r.data[0], "no headers");
  EXPECT_TRUE(r.ended);
}

TEST(MultipartReader, ParsesDispositionParameters) {
  auto r = parse_whole(
      part("content-disposition: form-data; name=\"file\"; filename=\"../../etc/pa\\\"sswd\"\r\n", "a") +
      part("Content-Disposition: form-data; name=plain; filename=x.iso; filename*=UTF-8''%e2%82%ac%20rates.iso\r\n"
           "X-Folded: one\r\n two\r\n",
           "b") +
      closing());
  ASSERT_EQ(r.parts.size(), 2u);
  EXPECT_EQ(r.parts[0].name, "file");
  EXPECT_EQ(r.parts[0].filename, "../../etc/pa\"sswd");  // reported as sent; callers never use it as a path
  EXPECT_EQ(r.parts[1].name, "plain");
  EXPECT_EQ(r.parts[1].filename, "\xe2\x82\xac rates.iso");
  EXPECT_EQ(r.parts[1].headers.at("x-folded"), "one two");
}

TEST(MultipartReader, IgnoresEverythingAfterTheCloseDelimiter) {
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  reader.feed(file_part("file", "a", "x") + closing());
  EXPECT_TRUE(reader.done());
  reader.feed("--" + kBoundary + "\r\n\r\nmore");
  reader.finish();
  EXPECT_EQ(r.parts.size(), 1u);
}

TEST(MultipartReader, ErrorsWithoutAnyBoundary) {
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  reader.feed("just some bytes\r\n--other\r\n");
  try {
    reader.finish();
    FAIL() << "no error";
  } catch (const MultipartError& e) {
    EXPECT_STREQ(e.what(), "multipart body has no boundary");
  }
}

TEST(MultipartReader, ErrorsWithoutTheFinalBoundary) {
  for (const std::string& body : {file_part("file", "a", "truncated"), file_part("file", "a", "x") + "--" + kBoundary,
                                  file_part("file", "a", "x") + "--" + kBoundary + "-",
                                  "--" + kBoundary + "\r\nContent-Disposition: form-"}) {
    Recorder r;
    MultipartReader reader(kBoundary, r.callbacks());
    reader.feed(body);
    EXPECT_FALSE(r.ended);
    EXPECT_THROW(reader.finish(), MultipartError) << body;
  }
}

TEST(MultipartReader, ErrorsOnHeadersOverTheLimit) {
  const std::string big = "X-Big: " + std::string(9000, 'h') + "\r\n";
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  EXPECT_THROW(reader.feed("--" + kBoundary + "\r\n" + big + "\r\nx"), MultipartError);
  // Also when the header block never ends: the reader does not buffer without bound.
  Recorder r2;
  MultipartReader endless(kBoundary, r2.callbacks());
  endless.feed("--" + kBoundary + "\r\n");
  EXPECT_THROW(
      for (int i = 0; i < 100; ++i) endless.feed(std::string(1000, 'h')), MultipartError);
  // Just under the limit is fine.
  const std::string ok = "X-Ok: " + std::string(8000, 'h') + "\r\n";
  auto fine = parse_whole("--" + kBoundary + "\r\n" + ok + "\r\nx\r\n" + closing());
  EXPECT_EQ(fine.data.at(0), "x");
}

// Found by fuzz/fuzz_multipart: a header block of exactly the limit was refused when its
// blank line arrived in a later chunk, yet accepted when the body came whole.
TEST(MultipartReader, HeaderBlockAtTheLimitDoesNotDependOnChunking) {
  const std::size_t limit = MultipartReader::kDefaultMaxHeaderBytes;
  const std::string line = "X-Fill: " + std::string(limit - 10, 'h') + "\r\n";  // block == limit
  ASSERT_EQ(line.size(), limit);
  const std::string body = "--" + kBoundary + "\r\n" + line + "\r\nx\r\n" + closing();
  EXPECT_EQ(parse_whole(body).data.at(0), "x");
  for (std::size_t cut = line.size() - 2; cut <= line.size() + 2; ++cut) {
    const std::size_t head = kBoundary.size() + 4 + cut;  // split just around the blank line
    EXPECT_EQ(parse_in_chunks(body, {head, body.size()}).data.at(0), "x") << "cut at " << cut;
  }
}

TEST(MultipartReader, ErrorsOnAMalformedHeaderLine) {
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  EXPECT_THROW(reader.feed("--" + kBoundary + "\r\nno colon here\r\n\r\nx"), MultipartError);
  EXPECT_THROW(reader.feed("more"), MultipartError);  // unusable after an error
}

TEST(MultipartReader, ErrorsOnEndlessPadding) {
  Recorder r;
  MultipartReader reader(kBoundary, r.callbacks());
  EXPECT_THROW(reader.feed("--" + kBoundary + std::string(1000, ' ')), MultipartError);
}

TEST(MultipartReader, CallbackExceptionsPropagateAndStopTheReader) {
  MultipartReader reader(kBoundary, {nullptr, [](std::string_view) { throw std::runtime_error("disk full"); }, nullptr,
                                     nullptr});
  EXPECT_THROW(reader.feed(file_part("file", "a", "data")), std::runtime_error);
  EXPECT_THROW(reader.finish(), MultipartError);
}

}  // namespace
}  // namespace vmshare::http
