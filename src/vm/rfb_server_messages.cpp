#include "vm/rfb_server_messages.h"

namespace vmshare::vm::rfb {

namespace {

using Status = ServerMessage::Status;

std::uint32_t u16(std::string_view b, std::size_t at) {
  return (std::uint32_t(std::uint8_t(b[at])) << 8) | std::uint8_t(b[at + 1]);
}
std::uint32_t u32(std::string_view b, std::size_t at) { return (u16(b, at) << 16) | u16(b, at + 2); }

// Hextile (RFC 6143 §7.7.4): 16x16 tiles, row by row, each a sub-encoding byte and its data.
// Returns the bytes the rectangle's data takes from `at`, 0 when incomplete, SIZE_MAX when bad.
std::size_t hextile_length(std::string_view b, std::size_t at, std::uint32_t w, std::uint32_t h, std::uint32_t bpp) {
  const std::size_t start = at;
  for (std::uint32_t ty = 0; ty < h; ty += 16) {
    const std::uint32_t th = h - ty < 16 ? h - ty : 16;
    for (std::uint32_t tx = 0; tx < w; tx += 16) {
      const std::uint32_t tw = w - tx < 16 ? w - tx : 16;
      if (at >= b.size()) return 0;
      const auto sub = std::uint8_t(b[at++]);
      if (sub & 0xe0) return SIZE_MAX;  // undefined bits
      if (sub & 1) {                    // Raw tile; the other bits are ignored
        at += std::size_t{tw} * th * bpp;
        continue;
      }
      if (sub & 2) at += bpp;  // background
      if (sub & 4) at += bpp;  // foreground
      if (sub & 8) {           // subrects: a count, then each (colour) x|y, w|h
        if (at >= b.size()) return 0;
        const std::size_t n = std::uint8_t(b[at++]);
        at += n * ((sub & 16 ? bpp : 0) + 2);
      }
    }
  }
  return at > b.size() ? 0 : at - start;
}

// One FramebufferUpdate: 4 header bytes, then each rectangle's 12-byte header and data.
ServerMessage frame_update(std::string_view b, FramebufferShape shape) {
  ServerMessage m;
  m.type = 0;
  m.shape = shape;
  if (b.size() < 4) return m;
  const std::uint32_t count = u16(b, 2);
  std::size_t at = 4;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (b.size() < at + 12) return m;
    const std::uint32_t w = u16(b, at + 4), h = u16(b, at + 6);
    const auto enc = static_cast<std::int32_t>(u32(b, at + 8));
    at += 12;
    const std::uint32_t bpp = m.shape.bytes_per_pixel;
    switch (enc) {
      case kEncRaw:
        at += std::size_t{w} * h * bpp;
        m.pixels += std::uint64_t{w} * h;
        break;
      case kEncCopyRect:
        at += 4;
        m.pixels += std::uint64_t{w} * h;
        break;
      case kEncHextile: {
        const auto n = hextile_length(b, at, w, h, bpp);
        if (n == SIZE_MAX) return m.status = Status::invalid, m.why = "bad hextile tile", m;
        if (n == 0 && w && h) return m;
        at += n;
        m.pixels += std::uint64_t{w} * h;
        break;
      }
      case kEncDesktopSize:
        m.shape.width = static_cast<std::uint16_t>(w);
        m.shape.height = static_cast<std::uint16_t>(h);
        m.pixels = 0;  // a new framebuffer: what came before it is gone
        break;
      default:
        return m.status = Status::invalid, m.why = "an encoding the recorder did not ask for", m;
    }
  }
  if (b.size() < at) return m;
  m.status = Status::complete;
  m.length = at;
  return m;
}

}  // namespace

ServerMessage frame_server_message(std::string_view b, FramebufferShape shape) {
  ServerMessage m;
  m.shape = shape;
  if (b.empty()) return m;
  m.type = std::uint8_t(b[0]);
  std::size_t need = 0;
  switch (m.type) {
    case 0:
      return frame_update(b, shape);
    case 1:  // SetColourMapEntries: 6 header bytes, 6 per colour
      if (b.size() < 6) return m;
      need = 6 + 6 * std::size_t{u16(b, 4)};
      break;
    case 2:  // Bell
      need = 1;
      break;
    case 3:  // ServerCutText: 8 header bytes and the text (QEMU sends no extended clipboard unasked)
      if (b.size() < 8) return m;
      need = 8 + std::size_t{u32(b, 4)};
      if (need > (64u << 20)) return m.status = Status::invalid, m.why = "cut text too long", m;
      break;
    default:
      m.status = Status::invalid;
      m.why = "unknown server message type";
      return m;
  }
  if (b.size() < need) return m;
  m.status = Status::complete;
  m.length = need;
  return m;
}

}  // namespace vmshare::vm::rfb
