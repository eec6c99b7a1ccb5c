#include "vm/rfb_client_stream.h"

#include <algorithm>
#include <cstring>

namespace vmshare::vm {

namespace {

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
bool digit(std::uint8_t c) { return c >= '0' && c <= '9'; }

constexpr std::int32_t kExtendedMouseButtons = -316;

}  // namespace

const char* to_string(RfbClientMessage type) {
  using M = RfbClientMessage;
  switch (type) {
    case M::protocol_version: return "ProtocolVersion";
    case M::security_type: return "SecurityType";
    case M::vnc_auth_response: return "VncAuthResponse";
    case M::client_init: return "ClientInit";
    case M::set_pixel_format: return "SetPixelFormat";
    case M::set_encodings: return "SetEncodings";
    case M::framebuffer_update_request: return "FramebufferUpdateRequest";
    case M::key_event: return "KeyEvent";
    case M::pointer_event: return "PointerEvent";
    case M::client_cut_text: return "ClientCutText";
    case M::enable_continuous_updates: return "EnableContinuousUpdates";
    case M::fence: return "Fence";
    case M::xvp: return "xvp";
    case M::set_desktop_size: return "SetDesktopSize";
    case M::gii: return "gii";
    case M::qemu_extended_key_event: return "QemuExtendedKeyEvent";
    case M::qemu_audio: return "QemuAudio";
  }
  return "?";
}

bool is_input(RfbClientMessage type) {
  using M = RfbClientMessage;
  switch (type) {
    case M::key_event:
    case M::pointer_event:
    case M::client_cut_text:
    case M::qemu_extended_key_event:
    case M::xvp:
    case M::set_desktop_size:
    case M::gii:
      return true;
    default:
      return false;
  }
}

// What the header bytes so far say: more bytes needed (`header` in all), a complete header
// (with the body that follows it), or malformed.
struct RfbClientStream::Need {
  enum Kind { more, done, bad } kind = more;
  std::size_t header = 0;
  RfbClientMessage type = RfbClientMessage::protocol_version;
  std::uint64_t body = 0;
  const char* why = "";

  static Need need(std::size_t n) { return {more, n}; }
  static Need fail(const char* why) { return {bad, 0, {}, 0, why}; }
};

RfbClientStream::Need RfbClientStream::classify() const {
  using M = RfbClientMessage;
  auto fixed = [this](std::size_t n, M type) { return have_ < n ? Need::need(n) : Need{Need::done, n, type}; };
  switch (phase_) {
    case Phase::version: {
      if (have_ < 12) return Need::need(12);
      const auto* v = hdr_;
      const bool ok = std::memcmp(v, "RFB 003.", 8) == 0 && digit(v[8]) && digit(v[9]) && digit(v[10]) && v[11] == '\n';
      return ok ? Need{Need::done, 12, M::protocol_version} : Need::fail("not an RFB 3.x ProtocolVersion");
    }
    case Phase::security:
      if (hdr_[0] != 1 && hdr_[0] != 2) return Need::fail("unsupported security type");
      return fixed(1, M::security_type);
    case Phase::auth_response: return fixed(16, M::vnc_auth_response);
    case Phase::client_init: return fixed(1, M::client_init);
    case Phase::messages: return classify_message();
  }
  return Need::fail("bad state");
}

RfbClientStream::Need RfbClientStream::classify_message() const {
  using M = RfbClientMessage;
  auto fixed = [this](std::size_t n, M type) { return have_ < n ? Need::need(n) : Need{Need::done, n, type}; };
  auto with_body = [this](std::size_t n, M type, auto body_of) {
    return have_ < n ? Need::need(n) : Need{Need::done, n, type, static_cast<std::uint64_t>(body_of())};
  };
  const std::uint8_t* h = hdr_;
  switch (h[0]) {
    case 0: return fixed(20, M::set_pixel_format);
    case 2: return with_body(4, M::set_encodings, [h] { return 4u * be16(h + 2); });
    case 3: return fixed(10, M::framebuffer_update_request);
    case 4: return fixed(8, M::key_event);
    case 5:
      if (have_ < 2) return Need::need(2);
      return fixed(ext_pointer_ && (h[1] & 0x80) ? 7 : 6, M::pointer_event);
    case 6: {
      if (have_ < 8) return Need::need(8);
      const auto len = static_cast<std::int32_t>(be32(h + 4));  // negative: extended clipboard
      const std::uint64_t size = len < 0 ? std::uint64_t{0} - static_cast<std::int64_t>(len) : std::uint64_t(len);
      if (size > kMaxCutText) return Need::fail("ClientCutText too long");
      return Need{Need::done, 8, M::client_cut_text, size};
    }
    case 150: return fixed(10, M::enable_continuous_updates);
    case 248: {
      if (have_ < 9) return Need::need(9);
      if (h[8] > kMaxFencePayload) return Need::fail("Fence payload too long");
      return Need{Need::done, 9, M::fence, h[8]};
    }
    case 250: return fixed(4, M::xvp);
    case 251: return with_body(8, M::set_desktop_size, [h] { return 16u * h[6]; });
    case 253:  // gii: bit 7 of the sub-type byte says the length is big-endian
      return with_body(4, M::gii, [h] { return (h[1] & 0x80) ? be16(h + 2) : (h[3] << 8 | h[2]); });
    case 255: {
      if (have_ < 2) return Need::need(2);
      if (h[1] == 0) return fixed(12, M::qemu_extended_key_event);
      if (h[1] != 1) return Need::fail("unknown QEMU client message");
      if (have_ < 4) return Need::need(4);
      const auto op = be16(h + 2);  // 0 enable, 1 disable, 2 set format (u8, u8, u32)
      if (op > 2) return Need::fail("unknown QEMU audio operation");
      return fixed(op == 2 ? 10 : 4, M::qemu_audio);
    }
    default:
      return Need::fail("unknown message type");
  }
}

RfbClientStream::Status RfbClientStream::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return Status::malformed;
}

void RfbClientStream::header_complete(const Need& need, std::vector<Message>& out) {
  using M = RfbClientMessage;
  out.push_back({need.type, is_input(need.type), begin_, begin_ + need.header + need.body});
  have_ = 0;
  body_left_ = need.body;
  switch (need.type) {
    case M::protocol_version: {
      const int minor = (hdr_[8] - '0') * 100 + (hdr_[9] - '0') * 10 + (hdr_[10] - '0');
      v33_ = minor < 7;  // 3.3, and what servers treat as 3.3 (3.4, 3.5, ...)
      phase_ = v33_ ? Phase::client_init : Phase::security;
      break;
    }
    case M::security_type: phase_ = hdr_[0] == 2 ? Phase::auth_response : Phase::client_init; break;
    case M::vnc_auth_response: phase_ = Phase::client_init; break;
    case M::client_init: phase_ = Phase::messages; break;
    case M::set_encodings:
      in_encodings_ = need.body > 0;
      enc_bytes_ = 0;
      enc_seen_ext_ = false;
      if (!in_encodings_) ext_pointer_ = false;
      break;
    default: break;
  }
}

void RfbClientStream::skip_body(const std::uint8_t* data, std::size_t k) {
  body_left_ -= k;
  if (!in_encodings_) return;
  for (std::size_t i = 0; i < k; ++i) {
    enc_word_ = (enc_word_ << 8) | data[i];
    if (++enc_bytes_ == 4) {
      enc_bytes_ = 0;
      enc_seen_ext_ |= static_cast<std::int32_t>(enc_word_) == kExtendedMouseButtons;
    }
  }
  if (body_left_ == 0) {
    in_encodings_ = false;
    ext_pointer_ = server_extended_mouse_ && enc_seen_ext_;
  }
}

RfbClientStream::Status RfbClientStream::feed(const std::uint8_t* data, std::size_t n, std::vector<Message>& out) {
  if (malformed()) return Status::malformed;
  std::size_t i = 0;
  while (i < n) {
    if (body_left_ > 0) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, n - i));
      skip_body(data + i, k);
      i += k;
      offset_ += k;
      continue;
    }
    if (have_ == 0) begin_ = offset_;
    hdr_[have_++] = data[i++];
    ++offset_;
    for (;;) {  // a header may need several steps (a sub-type decides the length)
      const Need need = classify();
      if (need.kind == Need::bad) return fail(need.why);
      if (need.kind == Need::done) {
        header_complete(need, out);
        break;
      }
      const std::size_t k = std::min(need.header - have_, n - i);
      if (k == 0) break;  // the rest comes with the next chunk
      std::memcpy(hdr_ + have_, data + i, k);
      have_ += k;
      i += k;
      offset_ += k;
    }
  }
  return Status::ok;
}

// ---- view-only filter ----

void RfbViewOnlyFilter::emit(const std::uint8_t* data, std::uint64_t chunk_begin, std::uint64_t from,
                             std::uint64_t to, bool pass, std::string& out) {
  if (!pass) return;
  for (std::uint64_t at = from; at < to; ++at) {
    const std::uint8_t b = at < chunk_begin ? static_cast<std::uint8_t>(held_[at - held_begin_]) : data[at - chunk_begin];
    out.push_back(static_cast<char>(at == client_init_at_ ? 1 : b));  // ClientInit: always shared
  }
}

RfbClientStream::Status RfbViewOnlyFilter::filter(const std::uint8_t* data, std::size_t n, std::string& out) {
  const std::uint64_t chunk_begin = stream_.offset();
  messages_.clear();
  if (stream_.feed(data, n, messages_) == RfbClientStream::Status::malformed) return RfbClientStream::Status::malformed;
  const std::uint64_t decided = stream_.pending_begin();
  std::uint64_t at = held_.empty() ? chunk_begin : held_begin_;
  // The rest of the message decided before this chunk, then each message reported now.
  const std::uint64_t rest = std::min(current_end_, decided);
  if (at < rest) {
    emit(data, chunk_begin, at, rest, current_pass_, out);
    at = rest;
  }
  for (const auto& m : messages_) {
    const bool pass = !m.input;
    dropped_ += pass ? 0 : 1;
    if (m.type == RfbClientMessage::client_init) client_init_at_ = m.begin;
    const std::uint64_t to = std::min(m.end, decided);
    emit(data, chunk_begin, m.begin, to, pass, out);
    at = to;
    current_end_ = m.end;
    current_pass_ = pass;
  }
  // Hold the bytes of a header not complete yet (at most kMaxHeader).
  std::string held;
  for (std::uint64_t b = std::max(at, decided); b < chunk_begin + n; ++b)
    held.push_back(b < chunk_begin ? held_[b - held_begin_] : static_cast<char>(data[b - chunk_begin]));
  held_ = std::move(held);
  held_begin_ = decided;
  return RfbClientStream::Status::ok;
}

}  // namespace vmshare::vm
