#include "core/websocket_frames.h"

#include <algorithm>

namespace vmshare::ws {

namespace {
bool is_control(Opcode op) { return static_cast<std::uint8_t>(op) >= 8; }

bool known_opcode(std::uint8_t op) { return op <= 2 || (op >= 8 && op <= 10); }

// Codes a peer may put in a close frame (RFC 6455 section 7.4; 1005, 1006 and 1015 are never sent).
bool sendable_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}
}  // namespace

std::size_t server_frame_header(Opcode opcode, std::uint64_t payload_size,
                                std::array<std::uint8_t, kMaxServerHeader>& out) {
  out[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(opcode));
  if (payload_size <= 125) {
    out[1] = static_cast<std::uint8_t>(payload_size);
    return 2;
  }
  if (payload_size <= 0xffff) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(payload_size >> 8);
    out[3] = static_cast<std::uint8_t>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(payload_size >> (56 - 8 * i));
  return 10;
}

std::string control_frame(Opcode opcode, std::string_view payload) {
  payload = payload.substr(0, kMaxControlPayload);
  std::array<std::uint8_t, kMaxServerHeader> header{};
  const auto n = server_frame_header(opcode, payload.size(), header);
  std::string frame(reinterpret_cast<const char*>(header.data()), n);
  frame.append(payload);
  return frame;
}

std::string close_frame(std::uint16_t code, std::string_view reason) {
  if (reason.size() > kMaxControlPayload - 2) {
    std::size_t cut = kMaxControlPayload - 2;
    while (cut > 0 && (static_cast<std::uint8_t>(reason[cut]) & 0xc0) == 0x80) --cut;  // not inside a character
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  payload.append(reason);
  return control_frame(Opcode::close, payload);
}

ClientFrameReader::Status ClientFrameReader::fail(std::string reason) {
  status_ = Status::error;
  error_ = std::move(reason);
  return status_;
}

std::size_t ClientFrameReader::header_needed() const {
  if (header_size_ < 2) return 2;
  const auto len7 = header_[1] & 0x7f;
  const std::size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return 2 + extended + 4;  // every client frame is masked (checked by first_bytes_valid)
}

// Checks that need only the first two bytes, so a bad frame is refused at once rather than
// after bytes that may never come (an unmasked frame has no mask to wait for).
bool ClientFrameReader::first_bytes_valid() {
  const std::uint8_t b0 = header_[0], b1 = header_[1];
  if (b0 & 0x70) return fail("reserved bits set"), false;
  if (!(b1 & 0x80)) return fail("unmasked frame"), false;
  if (!known_opcode(b0 & 0x0f)) return fail("unknown opcode"), false;
  return true;
}

bool ClientFrameReader::parse_header() {
  const std::uint8_t b0 = header_[0], b1 = header_[1];
  opcode_ = static_cast<Opcode>(b0 & 0x0f);
  final_ = (b0 & 0x80) != 0;
  std::uint64_t length = b1 & 0x7f;
  std::size_t at = 2;
  if (length == 126) {
    length = (std::uint64_t{header_[2]} << 8) | header_[3];
    if (length < 126) return fail("length not minimally encoded"), false;
    at = 4;
  } else if (length == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
    if (length >> 63) return fail("length too large"), false;
    if (length <= 0xffff) return fail("length not minimally encoded"), false;
    at = 10;
  }
  std::copy_n(header_.begin() + static_cast<std::ptrdiff_t>(at), 4, mask_.begin());
  if (is_control(opcode_)) {
    if (!final_) return fail("fragmented control frame"), false;
    if (length > kMaxControlPayload) return fail("control frame too long"), false;
    control_payload_.clear();
  } else if (opcode_ == Opcode::continuation) {
    if (!in_message_) return fail("continuation outside a message"), false;
  } else if (in_message_) {
    return fail("new message inside a fragmented one"), false;
  }
  if (!is_control(opcode_)) in_message_ = !final_;
  remaining_ = length;
  mask_offset_ = 0;
  return true;
}

void ClientFrameReader::finish_frame(std::vector<Control>& controls) {
  stage_ = Stage::header;
  header_size_ = 0;
  if (!is_control(opcode_)) return;
  Control control;
  control.opcode = opcode_;
  if (opcode_ == Opcode::close) {
    if (control_payload_.size() == 1) return static_cast<void>(fail("close frame with a one-byte payload"));
    control.close_code = kCloseNoStatus;
    if (control_payload_.size() >= 2) {
      control.close_code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_payload_[0]) << 8) |
                                                      static_cast<std::uint8_t>(control_payload_[1]));
      if (!sendable_close_code(control.close_code)) return static_cast<void>(fail("invalid close code"));
      control.payload = control_payload_.substr(2);
    }
    status_ = Status::closed;
  } else {
    control.payload = control_payload_;
  }
  controls.push_back(std::move(control));
}

ClientFrameReader::Status ClientFrameReader::feed(const std::uint8_t* data, std::size_t size, std::string& data_out,
                                                  std::vector<Control>& controls) {
  std::size_t at = 0;
  while (status_ == Status::ok && (at < size || (stage_ == Stage::payload && remaining_ == 0))) {
    if (stage_ == Stage::header) {
      // Bytes only up to the end of the header: the next frame's bytes are not the header's.
      while (at < size && header_size_ < header_needed()) {
        header_[header_size_++] = data[at++];
        if (header_size_ == 2 && !first_bytes_valid()) return status_;
      }
      if (header_size_ < header_needed()) break;
      if (!parse_header()) break;
      stage_ = Stage::payload;
      continue;
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size - at));
    std::string& sink = is_control(opcode_) ? control_payload_ : data_out;
    const auto start = sink.size();
    sink.append(reinterpret_cast<const char*>(data + at), take);
    for (std::size_t i = 0; i < take; ++i) sink[start + i] ^= static_cast<char>(mask_[(mask_offset_ + i) & 3]);
    mask_offset_ += take;
    remaining_ -= take;
    at += take;
    if (remaining_ == 0) finish_frame(controls);
  }
  return status_;
}

}  // namespace vmshare::ws
