// The recording file format and the RFB server-to-client framing the recorder cuts it with.
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "vm/recording_format.h"
#include "vm/recording_plan.h"
#include "vm/rfb_server_messages.h"
#include "vm/unique_fd.h"

using namespace vmshare::vm;

namespace {

std::string be16(std::uint32_t v) { return {char(v >> 8), char(v)}; }
std::string be32(std::uint32_t v) { return be16(v >> 16) + be16(v & 0xffff); }

std::string rect(std::uint16_t x, std::uint16_t y, std::uint16_t w, std::uint16_t h, std::int32_t enc) {
  return be16(x) + be16(y) + be16(w) + be16(h) + be32(static_cast<std::uint32_t>(enc));
}

std::string update(std::uint16_t count, const std::string& rects) { return std::string{char(0), char(0)} + be16(count) + rects; }

std::string server_init(std::uint16_t w, std::uint16_t h, const std::string& name) {
  std::string s = be16(w) + be16(h);
  s += std::string{char(32), char(24), char(0), char(1)} + be16(255) + be16(255) + be16(255);
  s += std::string{char(0), char(8), char(16), 0, 0, 0};
  return s + be32(static_cast<std::uint32_t>(name.size())) + name;
}

rfb::FramebufferShape shape(std::uint16_t w, std::uint16_t h) { return {w, h, 4}; }

}  // namespace

TEST(RfbServerMessages, RawUpdateNeedsAllItsPixels) {
  const auto msg = update(1, rect(0, 0, 2, 2, rfb::kEncRaw) + std::string(16, 'x'));
  for (std::size_t cut = 0; cut < msg.size(); ++cut)
    EXPECT_EQ(rfb::frame_server_message(msg.substr(0, cut), shape(2, 2)).status, rfb::ServerMessage::Status::incomplete);
  const auto m = rfb::frame_server_message(msg + "tail", shape(2, 2));
  ASSERT_EQ(m.status, rfb::ServerMessage::Status::complete);
  EXPECT_EQ(m.length, msg.size());
  EXPECT_TRUE(rfb::is_full_frame(m));
  EXPECT_FALSE(rfb::is_full_frame(rfb::frame_server_message(msg, shape(4, 2))));  // half the screen
}

TEST(RfbServerMessages, HextileTilesAreWalked) {
  // 20x16: two tiles. Tile 1: background + subrects (2, coloured); tile 2: raw 4x16.
  std::string tiles;
  tiles += char(2 | 8 | 16) + std::string(4, 'b') + char(2) + std::string(4, 'c') + "xy" + std::string(4, 'd') + "zw";
  tiles += char(1) + std::string(4 * 16 * 4, 'r');
  const auto msg = update(1, rect(0, 0, 20, 16, rfb::kEncHextile) + tiles);
  for (std::size_t cut = 0; cut < msg.size(); ++cut)
    ASSERT_EQ(rfb::frame_server_message(msg.substr(0, cut), shape(20, 16)).status, rfb::ServerMessage::Status::incomplete)
        << cut;
  const auto m = rfb::frame_server_message(msg, shape(20, 16));
  ASSERT_EQ(m.status, rfb::ServerMessage::Status::complete);
  EXPECT_EQ(m.length, msg.size());
  EXPECT_TRUE(rfb::is_full_frame(m));
  // Undefined sub-encoding bits mean the stream is not what we asked for.
  EXPECT_EQ(rfb::frame_server_message(update(1, rect(0, 0, 16, 16, rfb::kEncHextile) + char(0x80)), shape(16, 16)).status,
            rfb::ServerMessage::Status::invalid);
}

// Framing resumed after each arrival gives what framing the whole message gives, whatever the
// arrivals: the recorder relies on it to go on where it stopped.
TEST(RfbServerMessages, ResumedFramingMatchesWholeFramingAtEverySplit) {
  std::string tiles;
  tiles += char(2 | 8 | 16) + std::string(4, 'b') + char(2) + std::string(4, 'c') + "xy" + std::string(4, 'd') + "zw";
  tiles += char(1) + std::string(4 * 16 * 4, 'r');
  const auto msg = update(4, rect(0, 0, 8, 4, rfb::kEncDesktopSize) + rect(0, 0, 20, 16, rfb::kEncHextile) + tiles +
                                 rect(0, 0, 2, 2, rfb::kEncRaw) + std::string(16, 'p') +
                                 rect(0, 0, 1, 1, rfb::kEncCopyRect) + be32(0)) +
                         "next";
  const auto whole = rfb::frame_server_message(msg, shape(2, 2));
  ASSERT_EQ(whole.status, rfb::ServerMessage::Status::complete);
  for (std::size_t step = 1; step <= 7; ++step) {
    rfb::FramingProgress progress;
    rfb::ServerMessage m;
    std::size_t had = 0;
    do {
      had = std::min(msg.size(), had + step);
      m = rfb::frame_server_message(std::string_view(msg).substr(0, had), shape(2, 2), progress);
    } while (m.status == rfb::ServerMessage::Status::incomplete && had < msg.size());
    ASSERT_EQ(m.status, rfb::ServerMessage::Status::complete) << "step " << step;
    EXPECT_EQ(m.length, whole.length);
    EXPECT_EQ(m.pixels, whole.pixels);
    EXPECT_EQ(m.shape.width, 8);
    EXPECT_FALSE(progress.active);  // ready for the next message
  }
}

// A guest dripping a Hextile update of 1-byte tiles: each arrival is read from where the last
// one stopped, never from the message's start again (that was quadratic in the arrivals).
TEST(RfbServerMessages, ADrippedHextileUpdateIsNeverWalkedAgain) {
  const std::uint16_t side = 1024;  // 64 x 64 tiles of one byte (sub-encoding 0: no data)
  const auto msg = update(1, rect(0, 0, side, side, rfb::kEncHextile) + std::string(64 * 64, char(0)));
  rfb::FramingProgress progress;
  const std::size_t header = 4 + 12;
  for (std::size_t had = header + 1; had < msg.size(); had += 97) {
    const auto m = rfb::frame_server_message(std::string_view(msg).substr(0, had), shape(side, side), progress);
    ASSERT_EQ(m.status, rfb::ServerMessage::Status::incomplete);
    ASSERT_EQ(progress.at, had) << "the next call starts at the first byte not yet had";
  }
  const auto m = rfb::frame_server_message(msg, shape(side, side), progress);
  ASSERT_EQ(m.status, rfb::ServerMessage::Status::complete);
  EXPECT_EQ(m.length, msg.size());
  EXPECT_TRUE(rfb::is_full_frame(m));
}

TEST(RfbServerMessages, DesktopSizeCopyRectAndOtherMessages) {
  const auto resize = update(2, rect(0, 0, 8, 4, rfb::kEncDesktopSize) + rect(0, 0, 8, 4, rfb::kEncCopyRect) + be32(0));
  const auto m = rfb::frame_server_message(resize, shape(2, 2));
  ASSERT_EQ(m.status, rfb::ServerMessage::Status::complete);
  EXPECT_EQ(m.shape.width, 8);
  EXPECT_EQ(m.shape.height, 4);
  EXPECT_TRUE(rfb::is_full_frame(m));
  EXPECT_EQ(rfb::frame_server_message(std::string(1, char(2)), shape(2, 2)).length, 1u);  // Bell
  const auto cut = std::string{char(3), 0, 0, 0} + be32(3) + "abc";
  EXPECT_EQ(rfb::frame_server_message(cut, shape(2, 2)).length, cut.size());
  EXPECT_EQ(rfb::frame_server_message(cut.substr(0, 9), shape(2, 2)).status, rfb::ServerMessage::Status::incomplete);
  EXPECT_EQ(rfb::frame_server_message(update(1, rect(0, 0, 1, 1, 16)), shape(2, 2)).status,  // ZRLE: not asked for
            rfb::ServerMessage::Status::invalid);
  EXPECT_EQ(rfb::frame_server_message(std::string(1, char(9)), shape(2, 2)).status, rfb::ServerMessage::Status::invalid);
}

TEST(RecordingFormat, HeaderAndRecordsRoundTripThroughAFile) {
  UniqueFd fd(::memfd_create("rec", MFD_CLOEXEC));
  ASSERT_TRUE(fd);
  const auto init = server_init(4, 2, "vm");
  std::string file = encode_recording_header({"RFB 003.008\n", init});
  const std::string payloads[] = {"first", "second!", "third"};
  std::uint32_t t = 0;
  for (const auto& p : payloads) {
    RecordHeader r;
    r.t_ms = t += 100;
    r.length = static_cast<std::uint32_t>(p.size());
    r.width = 4;
    r.height = 2;
    r.flags = p == "third" ? kFullFrame : 0;
    file += encode_record_header(r) + p;
  }
  file += encode_record_header({400, 50, 4, 2, 0}) + "torn";  // a crash mid-record
  ASSERT_EQ(::write(fd.get(), file.data(), file.size()), static_cast<ssize_t>(file.size()));
  const auto index = read_recording_index(fd.get());
  EXPECT_EQ(index.header.server_init, init);
  EXPECT_EQ(index.header.server_version, "RFB 003.008\n");
  ASSERT_EQ(index.records.size(), 3u);
  EXPECT_EQ(index.records[1].header.length, 7u);
  EXPECT_EQ(index.records[1].header.t_ms, 200u);
  EXPECT_TRUE(index.records[2].header.full_frame());
  EXPECT_EQ(index.duration_ms(), 300u);
  // An index never holds more than it is allowed, whatever the file holds (guest-made records).
  EXPECT_EQ(read_recording_index(fd.get(), 2).records.size(), 2u);
  char got[7];
  ASSERT_EQ(::pread(fd.get(), got, 7, static_cast<off_t>(index.records[1].offset + kRecordHeaderBytes)), 7);
  EXPECT_EQ(std::string(got, 7), "second!");
  EXPECT_EQ(server_init_with_size(init, 640, 480).substr(0, 4), be16(640) + be16(480));
  EXPECT_EQ(server_init_with_size(init, 640, 480).substr(4), init.substr(4));
}

TEST(RecordingFormat, RejectsWhatIsNotARecording) {
  std::size_t consumed = 0;
  EXPECT_THROW(decode_recording_header("QFI\xfbxxxxxxxxxxxxxxxxxxxx", consumed), RecordingFormatError);
  EXPECT_FALSE(decode_recording_header("VMSREC01RFB", consumed).has_value());
  EXPECT_THROW(decode_recording_header(std::string("VMSREC01RFB 003.008\n") + be32(1u << 30), consumed),
               RecordingFormatError);
}

TEST(RecordingPlan, SeekStartsAtTheLastFullFrameAtOrBeforeTheTarget) {
  std::vector<RecordEntry> records;
  const std::pair<std::uint32_t, bool> shape[] = {{0, true}, {50, false}, {10000, true}, {10100, false}, {20000, true}};
  for (auto [t, full] : shape) records.push_back({0, RecordHeader{t, 1, 1, 1, std::uint8_t(full ? kFullFrame : 0)}});
  EXPECT_EQ(replay_start(records, 0), 0u);
  EXPECT_EQ(replay_start(records, 9999), 0u);
  EXPECT_EQ(replay_start(records, 10000), 2u);
  EXPECT_EQ(replay_start(records, 15000), 2u);
  EXPECT_EQ(replay_start(records, 99999), 4u);
  records[0].header.flags = 0;  // no full frame before the target: the first one
  EXPECT_EQ(replay_start(records, 10), 2u);
  EXPECT_EQ(replay_start({}, 10), 0u);
}

TEST(RecordingPlan, PacingScalesWithSpeed) {
  using std::chrono::milliseconds;
  EXPECT_EQ(replay_delay(500, 1000, 1), milliseconds(0));  // before the seek target: at once
  EXPECT_EQ(replay_delay(3000, 1000, 1), milliseconds(2000));
  EXPECT_EQ(replay_delay(3000, 1000, 2), milliseconds(1000));
  EXPECT_EQ(replay_delay(3000, 1000, 4), milliseconds(500));
  EXPECT_TRUE(valid_replay_speed(4));
  EXPECT_FALSE(valid_replay_speed(3));
  EXPECT_FALSE(valid_replay_speed(0));
}

TEST(RecordingPlan, CapsAndReservation) {
  const RecordingCaps caps{1000, 60000};
  EXPECT_EQ(check_caps(caps, 900, 100, 10), CapVerdict::fits);
  EXPECT_EQ(check_caps(caps, 900, 101, 10), CapVerdict::size_cap);
  EXPECT_EQ(check_caps(caps, 0, 1, 60001), CapVerdict::length_cap);
  const RecordingCaps few{1000, 60000, 3};
  EXPECT_EQ(check_caps(few, 0, 1, 10, 2), CapVerdict::fits);
  EXPECT_EQ(check_caps(few, 0, 1, 10, 3), CapVerdict::record_cap);
  EXPECT_EQ(recording_record_cap(3600), 72000u);
  EXPECT_EQ(recording_record_cap(86400), kMaxRecords);
  EXPECT_EQ(recording_reservation_mb(64, 0, 300), 64);
  EXPECT_EQ(recording_reservation_mb(64, 290, 300), 10);  // what is left
  EXPECT_EQ(recording_reservation_mb(64, 300, 300), 0);
  EXPECT_EQ(recording_mb(0), 0);
  EXPECT_EQ(recording_mb(1), 1);
  EXPECT_EQ(recording_mb(1 << 20), 1);
  EXPECT_EQ(recording_mb((1 << 20) + 1), 2);
}
