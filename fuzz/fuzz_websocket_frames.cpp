// The WebSocket client-frame reader on arbitrary bytes: the first byte picks a chunk size, the
// rest is what a browser (or an attacker) sent. Checks what the console bridge relies on: the
// same data, control frames and verdict however the bytes are cut; no more data out than bytes
// in; control payloads within 125 bytes; nothing read after a close or a violation.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/websocket_frames.h"

using namespace vmshare::ws;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
bool same(const std::vector<ClientFrameReader::Control>& a, const std::vector<ClientFrameReader::Control>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].opcode != b[i].opcode || a[i].payload != b[i].payload || a[i].close_code != b[i].close_code) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::uint8_t* p = data + 1;
  const std::size_t n = size - 1;

  ClientFrameReader whole;
  std::string whole_data;
  std::vector<ClientFrameReader::Control> whole_controls;
  const auto verdict = whole.feed(p, n, whole_data, whole_controls);

  ClientFrameReader cut;
  std::string cut_data;
  std::vector<ClientFrameReader::Control> cut_controls;
  auto cut_verdict = ClientFrameReader::Status::ok;
  for (std::size_t at = 0; at < n; at += chunk) cut_verdict = cut.feed(p + at, std::min(chunk, n - at), cut_data, cut_controls);
  if (n == 0) cut_verdict = cut.status();

  check(cut_verdict == verdict);
  check(cut_data == whole_data);
  check(same(cut_controls, whole_controls));
  check(whole_data.size() <= n);
  for (const auto& c : whole_controls) check(c.payload.size() <= kMaxControlPayload);
  if (verdict == ClientFrameReader::Status::closed) check(!whole_controls.empty() && whole_controls.back().opcode == Opcode::close);
  // Final states stay final.
  std::string more;
  std::vector<ClientFrameReader::Control> more_controls;
  const std::uint8_t extra[] = {0x82, 0x81, 0, 0, 0, 0, 'x'};
  if (verdict != ClientFrameReader::Status::ok) {
    check(whole.feed(extra, sizeof extra, more, more_controls) == verdict && more.empty() && more_controls.empty());
  }
  return 0;
}
