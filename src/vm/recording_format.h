#pragma once
// The recording file: what QEMU's VNC server sent a headless viewer, with timestamps.
//
//   header:  "VMSREC01" | server ProtocolVersion (12 bytes) | u32 n | ServerInit (n bytes)
//   records: u32 t_ms | u32 length | u16 width | u16 height | u8 flags | 3 zero bytes | message
//
// Big-endian like RFB. Each record is one whole server-to-client message (rfb_server_messages.h)
// `t_ms` after the recording started; width/height are the framebuffer's after the message.
// The ServerInit carries the pixel format the recorder asked for (noVNC's own), so a replay can
// hand the stored messages to noVNC as they are. Flag kFullFrame marks an update that repaints
// the whole screen: the seek index is the list of those, found by scanning record headers (no
// trailer to lose when the server dies mid-recording; a torn last record is ignored).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

struct RecordingFormatError : VmError {
  using VmError::VmError;
};

inline constexpr std::string_view kRecordingMagic = "VMSREC01";
inline constexpr std::size_t kRecordHeaderBytes = 16;
inline constexpr std::uint8_t kFullFrame = 1;
// The most records a recording holds (recording_plan.h: 20 a second for RECORDING_MAX_S's
// largest value, a day); an index stops there, whatever a file holds (~40 MB of entries).
inline constexpr std::uint64_t kMaxRecords = 20 * 86400;

struct RecordingHeader {
  std::string server_version;  // 12 bytes, "RFB 003.008\n"
  std::string server_init;     // the ServerInit message, name included
};

struct RecordHeader {
  std::uint32_t t_ms = 0;
  std::uint32_t length = 0;
  std::uint16_t width = 0;
  std::uint16_t height = 0;
  std::uint8_t flags = 0;
  bool full_frame() const { return flags & kFullFrame; }
};

// Where a record sits in the file.
struct RecordEntry {
  std::uint64_t offset = 0;  // of its header
  RecordHeader header;
};

std::string encode_recording_header(const RecordingHeader& h);
std::string encode_record_header(const RecordHeader& r);

// Parses the file header at the start of `bytes`; nullopt when more bytes are needed, throws
// RecordingFormatError when it is not a recording. `consumed` gets the header's length.
std::optional<RecordingHeader> decode_recording_header(std::string_view bytes, std::size_t& consumed);
RecordHeader decode_record_header(std::string_view sixteen_bytes);

// The ServerInit with another framebuffer size (a replay that starts after a DesktopSize).
std::string server_init_with_size(std::string server_init, std::uint16_t width, std::uint16_t height);

// Reads a recording file: its header and the headers of all whole records (payloads skipped).
struct RecordingIndex {
  RecordingHeader header;
  std::uint64_t data_offset = 0;  // first record
  std::vector<RecordEntry> records;
  std::uint32_t duration_ms() const { return records.empty() ? 0 : records.back().header.t_ms; }
};
// At most `max_records` records are indexed (a replay ends there).
RecordingIndex read_recording_index(int fd, std::uint64_t max_records = kMaxRecords);

}  // namespace vmshare::vm
