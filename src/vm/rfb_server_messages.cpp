#include "vm/rfb_server_messages.h"

namespace vmshare::vm::rfb {

namespace {

using Status = ServerMessage::Status;

std::uint32_t u16(std::string_view b, std::size_t at) {
  return (std::uint32_t(std::uint8_t(b[at])) << 8) | std::uint8_t(b[at + 1]);
}
std::uint32_t u32(std::string_view b, std::size_t at) { return (u16(b, at) << 16) | u16(b, at + 2); }

enum class Walk { done, incomplete, bad };

// Hextile (RFC 6143 §7.7.4): 16x16 tiles, row by row, each a sub-encoding byte and its data.
// Walks the tiles of p.rect from p.ty/p.tx at p.at; done leaves p.at at the rectangle's end
// (perhaps past the bytes had: raw tile data is skipped, not read); incomplete leaves p at the
// tile to read next.
Walk walk_hextile(std::string_view b, FramingProgress& p, std::uint32_t bpp) {
  for (; p.ty < p.h; p.ty += 16, p.tx = 0) {
    const std::uint32_t th = p.h - p.ty < 16 ? p.h - p.ty : 16;
    for (; p.tx < p.w; p.tx += 16) {
      const std::uint32_t tw = p.w - p.tx < 16 ? p.w - p.tx : 16;
      std::size_t at = p.at;
      if (at >= b.size()) return Walk::incomplete;
      const auto sub = std::uint8_t(b[at++]);
      if (sub & 0xe0) return Walk::bad;  // undefined bits
      if (sub & 1) {                     // Raw tile; the other bits are ignored
        p.at = at + std::size_t{tw} * th * bpp;
        continue;
      }
      if (sub & 2) at += bpp;  // background
      if (sub & 4) at += bpp;  // foreground
      if (sub & 8) {           // subrects: a count, then each (colour) x|y, w|h
        if (at >= b.size()) return Walk::incomplete;
        const std::size_t n = std::uint8_t(b[at++]);
        at += n * ((sub & 16 ? bpp : 0) + 2);
      }
      p.at = at;
    }
  }
  return Walk::done;
}

// One FramebufferUpdate: 4 header bytes, then each rectangle's 12-byte header and data.
ServerMessage frame_update(std::string_view b, FramebufferShape shape, FramingProgress& p) {
  ServerMessage m;
  m.type = 0;
  if (!p.active) {
    p = FramingProgress{};
    p.active = true;
    p.at = 4;
    p.shape = shape;
  }
  const auto incomplete = [&] {
    m.shape = p.shape;
    return m;
  };
  const auto invalid = [&](const char* why) {
    p = FramingProgress{};
    m.status = Status::invalid;
    m.why = why;
    return m;
  };
  if (b.size() < 4) return incomplete();
  const std::uint32_t count = u16(b, 2);
  while (p.rect < count) {
    const std::uint32_t bpp = p.shape.bytes_per_pixel;
    if (p.in_hextile) {
      const auto walked = walk_hextile(b, p, bpp);
      if (walked == Walk::bad) return invalid("bad hextile tile");
      if (walked == Walk::incomplete) return incomplete();
      p.in_hextile = false;
      p.pixels += std::uint64_t{p.w} * p.h;
      ++p.rect;
      continue;
    }
    if (b.size() < p.at + 12) return incomplete();
    const std::uint32_t w = u16(b, p.at + 4), h = u16(b, p.at + 6);
    const auto enc = static_cast<std::int32_t>(u32(b, p.at + 8));
    p.at += 12;
    switch (enc) {
      case kEncRaw:
        p.at += std::size_t{w} * h * bpp;
        p.pixels += std::uint64_t{w} * h;
        break;
      case kEncCopyRect:
        p.at += 4;
        p.pixels += std::uint64_t{w} * h;
        break;
      case kEncHextile:
        p.in_hextile = true;
        p.w = w;
        p.h = h;
        p.ty = p.tx = 0;
        continue;  // its tiles next, then the rectangle counts as done
      case kEncDesktopSize:
        p.shape.width = static_cast<std::uint16_t>(w);
        p.shape.height = static_cast<std::uint16_t>(h);
        p.pixels = 0;  // a new framebuffer: what came before it is gone
        break;
      default:
        return invalid("an encoding the recorder did not ask for");
    }
    ++p.rect;
  }
  if (b.size() < p.at) return incomplete();
  m.status = Status::complete;
  m.length = p.at;
  m.pixels = p.pixels;
  m.shape = p.shape;
  p = FramingProgress{};
  return m;
}

}  // namespace

ServerMessage frame_server_message(std::string_view b, FramebufferShape shape) {
  FramingProgress fresh;
  return frame_server_message(b, shape, fresh);
}

ServerMessage frame_server_message(std::string_view b, FramebufferShape shape, FramingProgress& progress) {
  ServerMessage m;
  m.shape = shape;
  if (b.empty()) return m;
  m.type = std::uint8_t(b[0]);
  std::size_t need = 0;
  switch (m.type) {
    case 0:
      return frame_update(b, shape, progress);
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
