#include "vm/recording_format.h"

#include <unistd.h>

#include <cerrno>

namespace vmshare::vm {

namespace {

void put16(std::string& s, std::uint32_t v) {
  s.push_back(char(v >> 8));
  s.push_back(char(v));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v >> 16);
  put16(s, v & 0xffff);
}
std::uint32_t get16(std::string_view b, std::size_t at) {
  return (std::uint32_t(std::uint8_t(b[at])) << 8) | std::uint8_t(b[at + 1]);
}
std::uint32_t get32(std::string_view b, std::size_t at) { return (get16(b, at) << 16) | get16(b, at + 2); }

// The largest ServerInit worth believing (24 bytes and a desktop name).
constexpr std::uint32_t kMaxServerInit = 24 + 4096;

// pread until `n` bytes or the end of the file; returns what it got.
std::string read_at(int fd, std::uint64_t offset, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const auto r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw RecordingFormatError("cannot read the recording");
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

}  // namespace

std::string encode_recording_header(const RecordingHeader& h) {
  if (h.server_version.size() != 12) throw RecordingFormatError("a ProtocolVersion is 12 bytes");
  std::string out(kRecordingMagic);
  out += h.server_version;
  put32(out, static_cast<std::uint32_t>(h.server_init.size()));
  out += h.server_init;
  return out;
}

std::string encode_record_header(const RecordHeader& r) {
  std::string out;
  out.reserve(kRecordHeaderBytes);
  put32(out, r.t_ms);
  put32(out, r.length);
  put16(out, r.width);
  put16(out, r.height);
  out.push_back(char(r.flags));
  out.append(3, '\0');
  return out;
}

std::optional<RecordingHeader> decode_recording_header(std::string_view b, std::size_t& consumed) {
  const std::size_t fixed = kRecordingMagic.size() + 12 + 4;
  if (b.size() < kRecordingMagic.size()) return std::nullopt;
  if (b.substr(0, kRecordingMagic.size()) != kRecordingMagic) throw RecordingFormatError("not a vmshare recording");
  if (b.size() < fixed) return std::nullopt;
  const auto n = get32(b, fixed - 4);
  if (n < 24 || n > kMaxServerInit) throw RecordingFormatError("the recording's ServerInit is malformed");
  if (b.size() < fixed + n) return std::nullopt;
  RecordingHeader h;
  h.server_version = std::string(b.substr(kRecordingMagic.size(), 12));
  h.server_init = std::string(b.substr(fixed, n));
  consumed = fixed + n;
  return h;
}

RecordHeader decode_record_header(std::string_view b) {
  if (b.size() < kRecordHeaderBytes) throw RecordingFormatError("a record header is 16 bytes");
  RecordHeader r;
  r.t_ms = get32(b, 0);
  r.length = get32(b, 4);
  r.width = static_cast<std::uint16_t>(get16(b, 8));
  r.height = static_cast<std::uint16_t>(get16(b, 10));
  r.flags = std::uint8_t(b[12]);
  return r;
}

std::string server_init_with_size(std::string init, std::uint16_t width, std::uint16_t height) {
  if (init.size() < 4) throw RecordingFormatError("the recording's ServerInit is malformed");
  init[0] = char(width >> 8);
  init[1] = char(width);
  init[2] = char(height >> 8);
  init[3] = char(height);
  return init;
}

RecordingIndex read_recording_index(int fd, std::uint64_t max_records) {
  RecordingIndex index;
  const auto head = read_at(fd, 0, kRecordingMagic.size() + 16 + kMaxServerInit);
  std::size_t consumed = 0;
  auto header = decode_recording_header(head, consumed);
  if (!header) throw RecordingFormatError("the recording is truncated");
  index.header = std::move(*header);
  index.data_offset = consumed;
  std::uint64_t at = consumed;
  while (index.records.size() < max_records) {
    const auto bytes = read_at(fd, at, kRecordHeaderBytes);
    if (bytes.size() < kRecordHeaderBytes) break;
    const auto record = decode_record_header(bytes);
    // A torn last record (the server died while writing it) ends the recording.
    const auto whole = read_at(fd, at + kRecordHeaderBytes + record.length - (record.length ? 1 : 0), record.length ? 1 : 0);
    if (record.length && whole.empty()) break;
    index.records.push_back({at, record});
    at += kRecordHeaderBytes + record.length;
  }
  return index;
}

}  // namespace vmshare::vm
