// The RFB client-stream parser and the view-only filter, byte-exact: a session with every
// message type vmshare knows, fed whole, split at every offset, byte by byte; malformed streams.
#include "vm/rfb_client_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vmshare::vm {
namespace {

using M = RfbClientMessage;
using Message = RfbClientStream::Message;
using Bytes = std::vector<std::uint8_t>;

struct Part {
  M type;
  Bytes bytes;
};

Bytes be16(std::uint16_t v) { return {std::uint8_t(v >> 8), std::uint8_t(v)}; }
Bytes be32(std::uint32_t v) { return {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)}; }
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// What noVNC and QEMU exchange, client side, plus every extension the parser knows.
std::vector<Part> session() {
  return {
      {M::protocol_version, text("RFB 003.008\n")},
      {M::security_type, {1}},
      {M::client_init, {0}},  // exclusive: the view-only filter must make it shared
      {M::set_pixel_format, cat({{0, 0, 0, 0, 32, 24, 0, 1}, be16(255), be16(255), be16(255), {16, 8, 0, 0, 0, 0}})},
      {M::set_encodings, cat({{2, 0}, be16(3), be32(0), be32(std::uint32_t(-223)), be32(std::uint32_t(-316))})},
      {M::framebuffer_update_request, cat({{3, 0}, be16(0), be16(0), be16(720), be16(400)})},
      {M::key_event, cat({{4, 1, 0, 0}, be32(0x61)})},
      {M::pointer_event, cat({{5, 0x01}, be16(10), be16(20)})},
      {M::pointer_event, cat({{5, 0x81}, be16(10), be16(20), {0x01}})},  // extended form, after -316
      {M::client_cut_text, cat({{6, 0, 0, 0}, be32(5), text("hello")})},
      {M::client_cut_text, cat({{6, 0, 0, 0}, be32(std::uint32_t(-8)), be32(0x01000000), be32(0)})},
      {M::enable_continuous_updates, cat({{150, 1}, be16(0), be16(0), be16(720), be16(400)})},
      {M::fence, cat({{248, 0, 0, 0}, be32(0x80000003), {4}, text("abcd")})},
      {M::xvp, {250, 0, 1, 2}},
      {M::set_desktop_size, cat({{251, 0}, be16(800), be16(600), {1, 0}, be32(0), be16(0), be16(0), be16(800), be16(600), be32(0)})},
      {M::gii, cat({{253, 0x01, 4, 0}, text("wxyz")})},  // little-endian length
      {M::gii, cat({{253, 0x81, 0, 2}, text("uv")})},    // big-endian length
      {M::qemu_extended_key_event, cat({{255, 0}, be16(1), be32(0x61), be32(0x1e)})},
      {M::qemu_audio, cat({{255, 1}, be16(0)})},
      {M::qemu_audio, cat({{255, 1}, be16(2), {3, 2}, be32(44100)})},
      {M::framebuffer_update_request, cat({{3, 1}, be16(0), be16(0), be16(720), be16(400)})},
  };
}

Bytes stream_of(const std::vector<Part>& parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.bytes.begin(), p.bytes.end());
  return out;
}

std::vector<Message> expected_messages(const std::vector<Part>& parts) {
  std::vector<Message> out;
  std::uint64_t at = 0;
  for (const auto& p : parts) {
    out.push_back({p.type, is_input(p.type), at, at + p.bytes.size()});
    at += p.bytes.size();
  }
  return out;
}

// Feeds `bytes` cut at the given offsets; returns every message reported.
std::vector<Message> parse(const Bytes& bytes, const std::vector<std::size_t>& cuts, RfbClientStream& s,
                           bool* ok = nullptr) {
  std::vector<Message> out;
  std::size_t from = 0;
  bool all_ok = true;
  auto feed_to = [&](std::size_t to) {
    all_ok &= s.feed(bytes.data() + from, to - from, out) == RfbClientStream::Status::ok;
    from = to;
  };
  for (auto c : cuts) feed_to(c);
  feed_to(bytes.size());
  if (ok) *ok = all_ok;
  return out;
}

TEST(RfbClientStream, ClassifiesAWholeSession) {
  const auto parts = session();
  RfbClientStream s(true);
  bool ok = false;
  EXPECT_EQ(parse(stream_of(parts), {}, s, &ok), expected_messages(parts));
  EXPECT_TRUE(ok);
  EXPECT_EQ(s.offset(), stream_of(parts).size());
  EXPECT_EQ(s.pending_begin(), s.offset());
}

TEST(RfbClientStream, SameMessagesWhereverTheStreamIsCut) {
  const auto parts = session();
  const auto bytes = stream_of(parts);
  const auto expected = expected_messages(parts);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    RfbClientStream s(true);
    bool ok = false;
    EXPECT_EQ(parse(bytes, {cut}, s, &ok), expected) << "cut at " << cut;
    EXPECT_TRUE(ok) << "cut at " << cut;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  RfbClientStream s(true);
  EXPECT_EQ(parse(bytes, every, s), expected) << "byte by byte";
}

TEST(RfbClientStream, InputIsKeysPointerClipboardResizePowerAndGii) {
  for (auto t : {M::key_event, M::pointer_event, M::client_cut_text, M::qemu_extended_key_event, M::xvp,
                 M::set_desktop_size, M::gii})
    EXPECT_TRUE(is_input(t)) << to_string(t);
  for (auto t : {M::protocol_version, M::security_type, M::vnc_auth_response, M::client_init, M::set_pixel_format,
                 M::set_encodings, M::framebuffer_update_request, M::enable_continuous_updates, M::fence,
                 M::qemu_audio})
    EXPECT_FALSE(is_input(t)) << to_string(t);
}

TEST(RfbClientStream, ProtocolThreeThreeHasNoSecurityByteAndVncAuthHasAResponse) {
  std::vector<Part> v33 = {{M::protocol_version, text("RFB 003.003\n")},
                           {M::client_init, {1}},
                           {M::key_event, cat({{4, 0, 0, 0}, be32(0x62)})}};
  RfbClientStream a;
  EXPECT_EQ(parse(stream_of(v33), {}, a), expected_messages(v33));

  std::vector<Part> auth = {{M::protocol_version, text("RFB 003.008\n")},
                            {M::security_type, {2}},
                            {M::vnc_auth_response, Bytes(16, 0xab)},
                            {M::client_init, {1}},
                            {M::framebuffer_update_request, cat({{3, 1}, be16(0), be16(0), be16(1), be16(1)})}};
  RfbClientStream b;
  EXPECT_EQ(parse(stream_of(auth), {}, b), expected_messages(auth));
}

TEST(RfbClientStream, BackButtonOnQemu72IsASixBytePointerEvent) {
  // noVNC advertises -316 but QEMU 7.2 never confirms it: noVNC's Back button is bit 7 of an
  // ordinary 6-byte event, which must not be read as the 7-byte extended form.
  std::vector<Part> parts = {{M::protocol_version, text("RFB 003.008\n")},
                             {M::security_type, {1}},
                             {M::client_init, {1}},
                             {M::set_encodings, cat({{2, 0}, be16(2), be32(0), be32(std::uint32_t(-316))})},
                             {M::pointer_event, cat({{5, 0x80}, be16(1), be16(2)})},
                             {M::key_event, cat({{4, 1, 0, 0}, be32(0x61)})}};
  RfbClientStream s;
  bool ok = false;
  EXPECT_EQ(parse(stream_of(parts), {}, s, &ok), expected_messages(parts));
  EXPECT_TRUE(ok);
}

TEST(RfbClientStream, PointerEventIsSixBytesUnlessExtendedMouseButtonsWasAdvertised) {
  // Without -316 the marker bit is button 8, and the message is 6 bytes, even on a server that
  // would confirm the extension.
  std::vector<Part> parts = {{M::protocol_version, text("RFB 003.008\n")},
                             {M::security_type, {1}},
                             {M::client_init, {1}},
                             {M::set_encodings, cat({{2, 0}, be16(1), be32(0)})},
                             {M::pointer_event, cat({{5, 0x80}, be16(1), be16(2)})},
                             {M::key_event, cat({{4, 1, 0, 0}, be32(0x61)})}};
  RfbClientStream s(true);
  EXPECT_EQ(parse(stream_of(parts), {}, s), expected_messages(parts));
}

struct BadCase {
  const char* name;
  Bytes after_handshake;
  const char* error;
};

TEST(RfbClientStream, MalformedStreamsAreRefusedAndStayRefused) {
  const Bytes handshake = cat({text("RFB 003.008\n"), {1}, {1}});
  const std::vector<BadCase> cases = {
      {"unknown type", {7, 0, 0, 0}, "unknown message type"},
      {"cut text over 1 MiB", cat({{6, 0, 0, 0}, be32((1u << 20) + 1)}), "ClientCutText too long"},
      {"extended cut text over 1 MiB", cat({{6, 0, 0, 0}, be32(std::uint32_t(-(1 << 20) - 1))}), "ClientCutText too long"},
      {"INT32_MIN cut text", cat({{6, 0, 0, 0}, be32(0x80000000u)}), "ClientCutText too long"},
      {"fence over 64", cat({{248, 0, 0, 0}, be32(0), {65}}), "Fence payload too long"},
      {"QEMU sub-type 9", {255, 9}, "unknown QEMU client message"},
      {"QEMU audio op 3", cat({{255, 1}, be16(3)}), "unknown QEMU audio operation"},
  };
  for (const auto& c : cases) {
    RfbClientStream s;
    std::vector<Message> out;
    ASSERT_EQ(s.feed(handshake.data(), handshake.size(), out), RfbClientStream::Status::ok) << c.name;
    EXPECT_EQ(s.feed(c.after_handshake.data(), c.after_handshake.size(), out), RfbClientStream::Status::malformed)
        << c.name;
    EXPECT_EQ(s.error(), c.error) << c.name;
    const Bytes fbur = cat({{3, 1}, be16(0), be16(0), be16(1), be16(1)});
    EXPECT_EQ(s.feed(fbur.data(), fbur.size(), out), RfbClientStream::Status::malformed) << c.name << ": stays";
  }
  for (const auto& bad : {text("GET / HTTP/1.1\r\n"), text("RFB 004.000\n"), text("RFB 003.00x\n"), text("RFB 003.008\r")}) {
    RfbClientStream s;
    std::vector<Message> out;
    EXPECT_EQ(s.feed(bad.data(), bad.size(), out), RfbClientStream::Status::malformed);
  }
  RfbClientStream s;
  std::vector<Message> out;
  const Bytes vencrypt = cat({text("RFB 003.008\n"), {19}});
  EXPECT_EQ(s.feed(vencrypt.data(), vencrypt.size(), out), RfbClientStream::Status::malformed);
  EXPECT_EQ(s.error(), "unsupported security type");
}

TEST(RfbClientStream, ABodyOfAMegabyteNeedsNoMemory) {
  const Bytes head = cat({text("RFB 003.008\n"), {1}, {1}, {6, 0, 0, 0}, be32(1u << 20)});
  RfbClientStream s;
  std::vector<Message> out;
  ASSERT_EQ(s.feed(head.data(), head.size(), out), RfbClientStream::Status::ok);
  const Bytes chunk(4096, 'x');
  for (int i = 0; i < 256; ++i) ASSERT_EQ(s.feed(chunk.data(), chunk.size(), out), RfbClientStream::Status::ok);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out.back().end, s.offset());
  EXPECT_EQ(s.pending_begin(), s.offset());
}

// ---- view-only filter ----

std::string non_input_bytes(const std::vector<Part>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (is_input(p.type)) continue;
    std::string b(p.bytes.begin(), p.bytes.end());
    if (p.type == M::client_init) b = std::string(1, '\x01');
    out += b;
  }
  return out;
}

std::string filtered(const Bytes& bytes, const std::vector<std::size_t>& cuts, RfbViewOnlyFilter& f, bool* ok) {
  std::string out;
  std::size_t from = 0;
  *ok = true;
  auto feed_to = [&](std::size_t to) {
    *ok &= f.filter(bytes.data() + from, to - from, out) == RfbClientStream::Status::ok;
    from = to;
  };
  for (auto c : cuts) feed_to(c);
  feed_to(bytes.size());
  return out;
}

TEST(RfbViewOnlyFilter, PassesOnlyNonInputMessagesWithClientInitShared) {
  const auto parts = session();
  const auto bytes = stream_of(parts);
  const auto expected = non_input_bytes(parts);
  std::size_t inputs = 0;
  for (const auto& p : parts) inputs += is_input(p.type);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    RfbViewOnlyFilter f(true);
    bool ok = false;
    EXPECT_EQ(filtered(bytes, {cut}, f, &ok), expected) << "cut at " << cut;
    EXPECT_TRUE(ok);
    EXPECT_EQ(f.dropped(), inputs);
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  RfbViewOnlyFilter f(true);
  bool ok = false;
  EXPECT_EQ(filtered(bytes, every, f, &ok), expected) << "byte by byte";
}

TEST(RfbViewOnlyFilter, HoldsAnUndecidedHeaderAndNeverLeaksAPrefixOfADroppedMessage) {
  RfbViewOnlyFilter f;
  std::string out;
  const Bytes handshake = cat({text("RFB 003.008\n"), {1}, {1}});
  ASSERT_EQ(f.filter(handshake.data(), handshake.size(), out), RfbClientStream::Status::ok);
  out.clear();
  const Bytes qemu_head = {255};  // extended key event or audio? the sub-type decides
  ASSERT_EQ(f.filter(qemu_head.data(), 1, out), RfbClientStream::Status::ok);
  EXPECT_EQ(out, "");
  const Bytes key = cat({{0}, be16(1), be32(0x61), be32(0x1e)});
  ASSERT_EQ(f.filter(key.data(), key.size(), out), RfbClientStream::Status::ok);
  EXPECT_EQ(out, "") << "a QEMU extended key event is dropped whole";
  const Bytes audio = cat({{255, 1}, be16(1)});
  ASSERT_EQ(f.filter(audio.data(), 3, out), RfbClientStream::Status::ok);
  EXPECT_EQ(out, "");
  ASSERT_EQ(f.filter(audio.data() + 3, 1, out), RfbClientStream::Status::ok);
  EXPECT_EQ(out, std::string(audio.begin(), audio.end()));
}

TEST(RfbViewOnlyFilter, MalformedForwardsNothingOfTheChunk) {
  RfbViewOnlyFilter f;
  std::string out;
  const Bytes bytes = cat({text("RFB 003.008\n"), {1}, {1}, {3, 1}, be16(0), be16(0), be16(1), be16(1), {9}});
  EXPECT_EQ(f.filter(bytes.data(), bytes.size(), out), RfbClientStream::Status::malformed);
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace vmshare::vm
