#pragma once
// WebSocket framing (RFC 6455 section 5) after the handshake, for a server relaying a byte
// stream (RFB). Pure: bytes in, bytes and events out, no I/O.
//
// Why not Beast's stream: Beast's websocket::stream owns every write (its pongs, pings and close
// frames, behind its own write lock and composed operations), so the console bridge could neither
// splice the VM's output into the socket (VMSHARE_CONSOLE_RELAY=splice: the bytes never pass
// through user space, so nothing can hand them to Beast) nor send a chunk with one gathered
// sendmsg and no operation per chunk (the default; console_bridge.h, docs/benchmarks.md). Beast
// still answers the HTTP upgrade; from then on the bridge frames with this.
//
// Server -> client: unmasked, unfragmented frames: a header from server_frame_header() before the
// payload, or a whole control frame from control_frame() / close_frame().
//
// Client -> server: ClientFrameReader, fed whatever the socket gave, split anywhere. Data frames
// (binary, text and their continuations) are unmasked into the caller's output as one byte
// stream, since message boundaries mean nothing to RFB. Control frames are reported whole, in
// order. Violations stop the reader with close code 1002 and a reason for the close frame: an
// unmasked frame, reserved bits (no extension is negotiated), an unknown opcode, a fragmented or
// over-long control frame, a continuation outside a message or a new message inside one, a
// length that is not minimally encoded or has its top bit set, a close payload of one byte or
// with a code a peer may not send. After a close frame the reader ignores everything.
//
// Memory: the reader holds one frame header (at most 14 bytes) and one control payload (at most
// 125); data never accumulates in it (feed() appends at most `size` bytes to the output).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vmshare::ws {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// Close codes (RFC 6455 section 7.4.1) the bridge sends.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseNoStatus = 1005;  // reported for a close frame without a code; never sent
inline constexpr std::uint16_t kClosePolicy = 1008;
inline constexpr std::uint16_t kCloseTryAgainLater = 1013;

inline constexpr std::size_t kMaxControlPayload = 125;
inline constexpr std::size_t kMaxServerHeader = 10;

// The header of one final, unmasked frame carrying `payload_size` bytes; returns how many bytes
// of `out` it used (2, 4 or 10).
std::size_t server_frame_header(Opcode opcode, std::uint64_t payload_size,
                                std::array<std::uint8_t, kMaxServerHeader>& out);

// A whole ping or pong frame; the payload is cut to 125 bytes.
std::string control_frame(Opcode opcode, std::string_view payload);

// A whole close frame; the reason is cut to 123 bytes (at a UTF-8 character boundary).
std::string close_frame(std::uint16_t code, std::string_view reason);

class ClientFrameReader {
 public:
  struct Control {
    Opcode opcode = Opcode::ping;  // ping, pong or close
    std::string payload;           // ping/pong: as sent; close: the reason
    std::uint16_t close_code = 0;  // close only (kCloseNoStatus when the frame had none)
  };
  enum class Status { ok, closed, error };

  // Consumes all of [data, data + size): appends the data frames' payload, unmasked, to `data_out`
  // and each whole control frame to `controls`. `closed` once a close frame has been read (it is
  // the last entry of `controls`); `error` on a violation (then error_reason()). Both are final.
  Status feed(const std::uint8_t* data, std::size_t size, std::string& data_out, std::vector<Control>& controls);

  Status status() const { return status_; }
  const std::string& error_reason() const { return error_; }

 private:
  enum class Stage { header, payload };
  bool first_bytes_valid();
  bool parse_header();  // header_ is complete: validate and start the payload; false on error
  std::size_t header_needed() const;
  void finish_frame(std::vector<Control>& controls);
  Status fail(std::string reason);

  Stage stage_ = Stage::header;
  Status status_ = Status::ok;
  std::string error_;
  std::array<std::uint8_t, 14> header_{};
  std::size_t header_size_ = 0;
  Opcode opcode_ = Opcode::binary;
  bool final_ = true;
  std::array<std::uint8_t, 4> mask_{};
  std::uint64_t remaining_ = 0;   // payload bytes of the current frame still to come
  std::uint64_t mask_offset_ = 0;
  bool in_message_ = false;       // a fragmented data message has begun and not ended
  std::string control_payload_;   // the current control frame's payload so far
};

}  // namespace vmshare::ws
