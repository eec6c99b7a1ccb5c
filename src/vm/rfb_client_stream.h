#pragma once
// The RFB (VNC) client-to-server byte stream, parsed incrementally: bytes arrive in chunks cut
// anywhere (WebSocket frames carry RFB freely), the parser classifies every message (input or
// not) with its byte range in the stream, or gives the verdict "malformed". Pure, no I/O.
//
// What it knows (RFC 6143 and the extensions QEMU 7.2's VNC server and noVNC 1.7 use):
// - handshake: ProtocolVersion (12 bytes "RFB 003.00N\n"); from 3.7 on the chosen security
//   type (1 byte: 1 None, or 2 VNC authentication and its 16-byte response; vmshare's
//   add_client'ed connections use skipauth, so QEMU offers only None); ClientInit (1 byte).
// - messages: SetPixelFormat 0, SetEncodings 2, FramebufferUpdateRequest 3, KeyEvent 4,
//   PointerEvent 5 (6 bytes; 7 in noVNC's extended form, which noVNC sends only once the server
//   confirmed the ExtendedMouseButtons pseudo-encoding -316: the parser cannot see the server,
//   so it takes the 7-byte form only when constructed with server_extended_mouse and the client
//   advertised -316 and set the marker bit 0x80. QEMU 7.2, vmshare's, never confirms it, and
//   noVNC then sends its Back button as bit 7 of a 6-byte event), ClientCutText 6
//   (extended clipboard: negative length), EnableContinuousUpdates 150, Fence 248, xvp 250,
//   SetDesktopSize 251, gii 253, QEMU 255 with sub-types 0 (extended key event) and 1 (audio:
//   enable, disable, set format).
// - input (what acts on the guest; a view-only viewer may not send it): KeyEvent,
//   PointerEvent, ClientCutText, QEMU extended key event, xvp (power), SetDesktopSize, gii.
//
// Invariants: state is bounded (a header of at most kMaxHeader bytes, a few counters) whatever
// the input; once malformed, the stream stays malformed. Malformed means: a version line that
// is not "RFB 003.xxx\n", a security type other than None/VNC auth, an unknown message type or
// QEMU sub-type, a ClientCutText over kMaxCutText (QEMU's own limit), a Fence payload over 64.
#include <cstdint>
#include <string>
#include <vector>

namespace vmshare::vm {

enum class RfbClientMessage : std::uint8_t {
  protocol_version,
  security_type,
  vnc_auth_response,
  client_init,
  set_pixel_format,
  set_encodings,
  framebuffer_update_request,
  key_event,
  pointer_event,
  client_cut_text,
  enable_continuous_updates,
  fence,
  xvp,
  set_desktop_size,
  gii,
  qemu_extended_key_event,
  qemu_audio,
};
const char* to_string(RfbClientMessage type);
bool is_input(RfbClientMessage type);

class RfbClientStream {
 public:
  static constexpr std::uint32_t kMaxCutText = 1u << 20;  // QEMU refuses longer ClientCutText
  static constexpr std::size_t kMaxHeader = 20;            // SetPixelFormat, the longest fixed part
  static constexpr std::uint8_t kMaxFencePayload = 64;

  struct Message {
    RfbClientMessage type;
    bool input;
    std::uint64_t begin;  // stream offsets: the message is bytes [begin, end)
    std::uint64_t end;
    bool operator==(const Message&) const = default;
  };
  enum class Status { ok, malformed };

  // `server_extended_mouse`: the VNC server confirms ExtendedMouseButtons (not QEMU 7.2).
  explicit RfbClientStream(bool server_extended_mouse = false) : server_extended_mouse_(server_extended_mouse) {}

  // Parses the next `n` bytes (stream offsets offset() .. offset() + n). Appends to `out` each
  // message whose fixed header completes within them, in stream order; its body (encodings,
  // cut text ...) may still be to come. After `malformed`, every call returns malformed.
  Status feed(const std::uint8_t* data, std::size_t n, std::vector<Message>& out);

  std::uint64_t offset() const { return offset_; }
  // Where the bytes not yet classified begin: the start of a message whose header is still
  // incomplete, else offset(). Everything before it belongs to reported messages.
  std::uint64_t pending_begin() const { return have_ > 0 ? begin_ : offset_; }
  bool malformed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }  // why it is malformed

 private:
  enum class Phase : std::uint8_t { version, security, auth_response, client_init, messages };
  struct Need;  // what the header bytes so far say (rfb_client_stream.cpp)
  Need classify() const;
  Need classify_message() const;
  void header_complete(const Need& need, std::vector<Message>& out);
  void skip_body(const std::uint8_t* data, std::size_t k);
  Status fail(std::string why);

  bool server_extended_mouse_ = false;
  Phase phase_ = Phase::version;
  bool v33_ = false;           // protocol 3.3: no security type from the client
  bool ext_pointer_ = false;   // the last SetEncodings advertised ExtendedMouseButtons (-316)
  std::uint8_t hdr_[kMaxHeader] = {};
  std::size_t have_ = 0;       // header bytes of the current message so far
  std::uint64_t begin_ = 0;    // its stream offset
  std::uint64_t body_left_ = 0;  // body bytes of the last reported message still to come
  bool in_encodings_ = false;  // that body is a SetEncodings list (scanned for -316)
  std::uint32_t enc_word_ = 0;
  std::uint8_t enc_bytes_ = 0;
  bool enc_seen_ext_ = false;
  std::uint64_t offset_ = 0;
  std::string error_;
};

// A view-only viewer's client stream: only whole non-input messages pass, ClientInit's shared
// flag forced to 1 (an exclusive connection would make QEMU drop the other viewers). Bytes of a
// message are held until its header says what it is (at most kMaxHeader bytes), then passed or
// skipped; a dropped message never leaves a byte behind. Pure, bounded.
class RfbViewOnlyFilter {
 public:
  explicit RfbViewOnlyFilter(bool server_extended_mouse = false) : stream_(server_extended_mouse) {}
  // Appends to `out` the bytes of `data` (and any held before) that may reach the VM.
  RfbClientStream::Status filter(const std::uint8_t* data, std::size_t n, std::string& out);
  std::uint64_t dropped() const { return dropped_; }  // input messages not forwarded
  const RfbClientStream& stream() const { return stream_; }
  const std::vector<RfbClientStream::Message>& last_messages() const { return messages_; }

 private:
  void emit(const std::uint8_t* data, std::uint64_t chunk_begin, std::uint64_t from, std::uint64_t to, bool pass,
            std::string& out);

  RfbClientStream stream_;
  std::vector<RfbClientStream::Message> messages_;  // reused per call
  std::string held_;               // stream bytes [held_begin_, chunk start): an undecided header
  std::uint64_t held_begin_ = 0;
  std::uint64_t current_end_ = 0;  // the last decided message ends here ...
  bool current_pass_ = false;      // ... and passes or not
  std::uint64_t client_init_at_ = UINT64_MAX;
  std::uint64_t dropped_ = 0;
};

}  // namespace vmshare::vm
