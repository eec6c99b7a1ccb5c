#pragma once
// Framing of the RFB server-to-client stream (RFC 6143 §7.6), enough to cut a recording into
// whole messages: where one message ends, and what a FramebufferUpdate covers. Pure: bytes in,
// a verdict out; no I/O. Only what the recorder asks QEMU for is understood: 32 bpp pixels in
// Raw (0), CopyRect (1) and Hextile (5) rectangles and the DesktopSize pseudo-encoding (-223);
// any other encoding is `invalid` (the recorder stops cleanly rather than mis-cut the stream).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vmshare::vm::rfb {

inline constexpr std::int32_t kEncRaw = 0;
inline constexpr std::int32_t kEncCopyRect = 1;
inline constexpr std::int32_t kEncHextile = 5;
inline constexpr std::int32_t kEncDesktopSize = -223;

// The framebuffer a message is read against (DesktopSize changes it).
struct FramebufferShape {
  std::uint16_t width = 0;
  std::uint16_t height = 0;
  std::uint32_t bytes_per_pixel = 4;
};

struct ServerMessage {
  enum class Status { incomplete, complete, invalid };
  Status status = Status::incomplete;
  std::size_t length = 0;       // complete: bytes of this message
  std::uint8_t type = 0;        // 0 FramebufferUpdate, 1 colour map, 2 Bell, 3 ServerCutText
  std::uint64_t pixels = 0;     // FramebufferUpdate: area of its pixel-carrying rectangles
  FramebufferShape shape;       // the framebuffer after this message
  const char* why = "";         // invalid: a short reason for the log
};

// Where reading a FramebufferUpdate stopped for want of bytes, so the next call with more of the
// same message goes on from there instead of walking it again from its start: a guest dripping
// a huge Hextile update of 1-byte tiles would otherwise cost a walk of everything so far per
// arrival (quadratic). Only positions and counts derived from bytes already read are kept.
struct FramingProgress {
  bool active = false;          // a FramebufferUpdate was started and is incomplete
  std::size_t at = 0;           // next byte to look at (may lie past the bytes had: skipped data)
  std::uint32_t rect = 0;       // rectangles finished
  std::uint64_t pixels = 0;
  FramebufferShape shape;
  bool in_hextile = false;      // inside rectangle `rect`'s Hextile tiles
  std::uint32_t w = 0, h = 0;   // that rectangle's size
  std::uint32_t ty = 0, tx = 0; // the next tile
};

// Reads the message at the start of `bytes`. `incomplete` means more bytes are needed.
ServerMessage frame_server_message(std::string_view bytes, FramebufferShape shape);
// The same, resuming from `progress` (which must come from the previous call on a prefix of
// `bytes`, or be fresh); it is reset when the message is complete or invalid.
ServerMessage frame_server_message(std::string_view bytes, FramebufferShape shape, FramingProgress& progress);

// Whether an update repaints the whole framebuffer (QEMU answers a non-incremental request so):
// a point from which a replay can start with no earlier state. QEMU's rectangles never overlap.
inline bool is_full_frame(const ServerMessage& m) {
  return m.status == ServerMessage::Status::complete && m.type == 0 &&
         m.pixels >= std::uint64_t{m.shape.width} * m.shape.height && m.shape.width > 0;
}

}  // namespace vmshare::vm::rfb
