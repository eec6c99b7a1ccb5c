#include "core/websocket_frames.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vmshare::ws {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A client frame as a browser sends it: masked with `key`.
Bytes client_frame(std::uint8_t first_byte, const std::string& payload, std::array<std::uint8_t, 4> key = {1, 2, 3, 4}) {
  Bytes f{first_byte};
  const auto n = payload.size();
  if (n <= 125) {
    f.push_back(static_cast<std::uint8_t>(0x80 | n));
  } else if (n <= 0xffff) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(n >> 8));
    f.push_back(static_cast<std::uint8_t>(n));
  } else {
    f.push_back(0x80 | 127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(std::uint64_t{n} >> (8 * i)));
  }
  f.insert(f.end(), key.begin(), key.end());
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<std::uint8_t>(payload[i]) ^ key[i & 3]);
  return f;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Fed {
  ClientFrameReader::Status status;
  std::string data;
  std::vector<ClientFrameReader::Control> controls;
  std::string error;
};

Fed feed_in_pieces(const Bytes& bytes, std::size_t piece) {
  ClientFrameReader reader;
  Fed fed{ClientFrameReader::Status::ok, {}, {}, {}};
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    fed.status = reader.feed(bytes.data() + at, std::min(piece, bytes.size() - at), fed.data, fed.controls);
  }
  if (bytes.empty()) fed.status = reader.status();
  fed.error = reader.error_reason();
  return fed;
}

Fed feed_all(const Bytes& bytes) { return feed_in_pieces(bytes, bytes.size() ? bytes.size() : 1); }

TEST(WebSocketServerFrames, HeaderUsesTheShortestLengthForm) {
  std::array<std::uint8_t, kMaxServerHeader> h{};
  ASSERT_EQ(server_frame_header(Opcode::binary, 0, h), 2u);
  EXPECT_EQ(h[0], 0x82);
  EXPECT_EQ(h[1], 0);
  ASSERT_EQ(server_frame_header(Opcode::binary, 125, h), 2u);
  EXPECT_EQ(h[1], 125);
  ASSERT_EQ(server_frame_header(Opcode::binary, 126, h), 4u);
  EXPECT_EQ((Bytes{h.begin(), h.begin() + 4}), (Bytes{0x82, 126, 0, 126}));
  ASSERT_EQ(server_frame_header(Opcode::binary, 65535, h), 4u);
  EXPECT_EQ((Bytes{h.begin(), h.begin() + 4}), (Bytes{0x82, 126, 0xff, 0xff}));
  ASSERT_EQ(server_frame_header(Opcode::binary, 1152016, h), 10u);  // a raw 720x400 update
  EXPECT_EQ((Bytes{h.begin(), h.end()}), (Bytes{0x82, 127, 0, 0, 0, 0, 0, 0x11, 0x94, 0x10}));
}

TEST(WebSocketServerFrames, ControlFramesAreWholeAndBounded) {
  EXPECT_EQ(control_frame(Opcode::pong, "abc"), std::string("\x8a\x03" "abc", 5));
  EXPECT_EQ(control_frame(Opcode::ping, std::string(200, 'x')).size(), 2u + 125u);
  EXPECT_EQ(close_frame(1008, "protocol error"), std::string("\x88\x10\x03\xf0protocol error", 18));
  // A reason longer than 123 bytes is cut, never inside a UTF-8 character ("é" is 2 bytes).
  std::string long_reason(122, 'a');
  long_reason += "\xc3\xa9tail";
  const auto frame = close_frame(1000, long_reason);
  EXPECT_EQ(frame.size(), 2u + 2u + 122u);
  EXPECT_EQ(static_cast<std::uint8_t>(frame[1]), 124);
}

TEST(WebSocketClientFrames, DataFramesBecomeOneUnmaskedStreamHoweverTheyAreCut) {
  const std::string big(70000, 'r');  // 64-bit length form
  const Bytes stream = client_frame(0x82, "hello") + client_frame(0x81, std::string(300, 'm')) +
                       client_frame(0x02, "frag") + client_frame(0x00, "men") + client_frame(0x80, "ted") +
                       client_frame(0x82, "") + client_frame(0x82, big, {0xde, 0xad, 0xbe, 0xef});
  const std::string expected = "hello" + std::string(300, 'm') + "fragmented" + big;
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{4096},
                            stream.size()}) {
    const auto fed = feed_in_pieces(stream, piece);
    EXPECT_EQ(fed.status, ClientFrameReader::Status::ok) << "piece " << piece << ": " << fed.error;
    EXPECT_EQ(fed.data, expected) << "piece " << piece;
    EXPECT_TRUE(fed.controls.empty());
  }
}

TEST(WebSocketClientFrames, ControlFramesArriveWholeEvenInsideAFragmentedMessage) {
  const Bytes stream = client_frame(0x02, "ab") + client_frame(0x89, "ping-1") + client_frame(0x80, "cd") +
                       client_frame(0x8a, "") + client_frame(0x88, std::string("\x03\xe8" "bye", 5));
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    const auto fed = feed_in_pieces(stream, piece);
    ASSERT_EQ(fed.status, ClientFrameReader::Status::closed) << piece;
    EXPECT_EQ(fed.data, "abcd");
    ASSERT_EQ(fed.controls.size(), 3u);
    EXPECT_EQ(fed.controls[0].opcode, Opcode::ping);
    EXPECT_EQ(fed.controls[0].payload, "ping-1");
    EXPECT_EQ(fed.controls[1].opcode, Opcode::pong);
    EXPECT_EQ(fed.controls[2].opcode, Opcode::close);
    EXPECT_EQ(fed.controls[2].close_code, 1000);
    EXPECT_EQ(fed.controls[2].payload, "bye");
  }
}

TEST(WebSocketClientFrames, NothingIsReadAfterAClose) {
  const auto fed = feed_all(client_frame(0x88, "") + client_frame(0x82, "late"));
  EXPECT_EQ(fed.status, ClientFrameReader::Status::closed);
  ASSERT_EQ(fed.controls.size(), 1u);
  EXPECT_EQ(fed.controls[0].close_code, kCloseNoStatus);
  EXPECT_EQ(fed.data, "");
}

TEST(WebSocketClientFrames, ViolationsStopTheReaderWithAReason) {
  struct Case {
    const char* name;
    Bytes bytes;
    const char* reason;
  };
  Bytes unmasked{0x82, 0x01, 'x'};
  Bytes not_minimal{0x82, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4};
  Bytes not_minimal_64{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
  Bytes top_bit{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  const std::vector<Case> cases = {
      {"unmasked", unmasked, "unmasked frame"},
      {"rsv1 (no extension negotiated)", client_frame(0xc2, "x"), "reserved bits set"},
      {"opcode 3", client_frame(0x83, "x"), "unknown opcode"},
      {"opcode 11", client_frame(0x8b, "x"), "unknown opcode"},
      {"fragmented ping", client_frame(0x09, "x"), "fragmented control frame"},
      {"ping of 126 bytes", client_frame(0x89, std::string(126, 'p')), "control frame too long"},
      {"lone continuation", client_frame(0x80, "x"), "continuation outside a message"},
      {"message inside a message", client_frame(0x02, "a") + client_frame(0x82, "b"),
       "new message inside a fragmented one"},
      {"16-bit length below 126", not_minimal, "length not minimally encoded"},
      {"64-bit length below 65536", not_minimal_64, "length not minimally encoded"},
      {"64-bit length with its top bit", top_bit, "length too large"},
      {"close with one byte", client_frame(0x88, "\x03"), "close frame with a one-byte payload"},
      {"close code 1005", client_frame(0x88, std::string("\x03\xed", 2)), "invalid close code"},
      {"close code 999", client_frame(0x88, std::string("\x03\xe7", 2)), "invalid close code"},
      {"close code 5000", client_frame(0x88, std::string("\x13\x88", 2)), "invalid close code"},
  };
  for (const auto& c : cases) {
    const auto alone = feed_all(c.bytes);  // refused without waiting for bytes that may never come
    EXPECT_EQ(alone.status, ClientFrameReader::Status::error) << c.name;
    const auto fed = feed_in_pieces(c.bytes + client_frame(0x82, "after"), 1);
    EXPECT_EQ(fed.status, ClientFrameReader::Status::error) << c.name;
    EXPECT_EQ(fed.error, c.reason) << c.name;
    EXPECT_EQ(fed.data.find("after"), std::string::npos) << c.name << ": bytes after a violation were read";
  }
}

TEST(WebSocketClientFrames, AcceptableCloseCodes) {
  for (std::uint16_t code : {1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999}) {
    std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    const auto fed = feed_all(client_frame(0x88, payload));
    EXPECT_EQ(fed.status, ClientFrameReader::Status::closed) << code;
    ASSERT_EQ(fed.controls.size(), 1u);
    EXPECT_EQ(fed.controls[0].close_code, code);
  }
}

}  // namespace
}  // namespace vmshare::ws
