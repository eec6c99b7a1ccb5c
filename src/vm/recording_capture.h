#pragma once
// A headless viewer that records: vmshare's own VNC connection to a VM (opened like a console,
// but counted as no one's viewer) and a thread that writes what QEMU sends into a recording
// file (recording_format.h).
//
// Choices, and why:
// - It speaks RFB 3.8 with security None and ClientInit shared=1 (other viewers stay), then
//   asks for noVNC's own pixel format (32 bpp, depth 24, little-endian, true colour, shifts
//   R0 G8 B16), so the stored messages are exactly what noVNC decodes, byte for byte.
// - Encodings: Hextile, CopyRect, Raw and the DesktopSize pseudo-encoding. All are stateless
//   between messages (unlike ZRLE, Zlib and Tight, whose zlib streams live for the whole
//   connection), so a replay can start at any full frame and noVNC decodes it with fresh
//   state; Hextile turns a mostly uniform console into a few bytes per 16x16 tile.
// - One update request outstanding (QEMU has no continuous updates), the next one no sooner
//   than kMinRequestGap after the last (at most ~10 frames/s: a recording, not a live view),
//   and every `full_frame_every` a non-incremental one: QEMU answers it with the whole screen,
//   which the file marks as a full frame, the seek index.
// - One thread per recording, blocking I/O straight into the file: memory is one message in
//   the making, bounded by the size cap. Past the size, length or record cap (recording_plan.h),
//   at stop(), or when QEMU closes the connection (the VM ended), the file ends after its last
//   whole record.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "vm/recording_plan.h"
#include "vm/unique_fd.h"

namespace vmshare::vm {

struct CaptureOptions {
  RecordingCaps caps;
  std::chrono::milliseconds full_frame_every{10000};
  std::chrono::milliseconds min_request_gap{100};
  std::chrono::milliseconds handshake_timeout{10000};
};

struct CaptureResult {
  std::uint64_t bytes = 0;       // the file's size
  std::uint32_t duration_ms = 0;  // of the last record
  std::uint64_t records = 0;
  std::string ended;  // "stopped" | "size cap" | "length cap" | "record cap" | "VM ended" | a failure, for the log
};

class RecordingCapture : public std::enable_shared_from_this<RecordingCapture> {
 public:
  using OnEnd = std::function<void(const CaptureResult&)>;
  // Takes the VNC connection and the open, empty file; runs until stopped, a cap, or the VM's
  // end, then calls on_end once (on the capture's own thread).
  static std::shared_ptr<RecordingCapture> start(UniqueFd vnc, UniqueFd file, CaptureOptions options, OnEnd on_end);
  ~RecordingCapture();

  // Asks the capture to end; returns at once (on_end follows on the capture's thread).
  void stop();
  std::uint64_t bytes() const { return bytes_.load(); }

  RecordingCapture(UniqueFd vnc, UniqueFd file, CaptureOptions options, OnEnd on_end);

 private:
  void run();
  CaptureResult capture();
  void handshake(std::string& server_version, std::string& server_init);
  void record_loop(std::string server_init, CaptureResult& result);
  // Exactly n bytes from QEMU before the deadline; throws on EOF, timeout or stop().
  std::string read_exact(std::size_t n, std::chrono::steady_clock::time_point deadline);
  void send_all(const std::string& bytes);
  void write_file(const std::string& bytes);
  void request_update(bool incremental, std::uint16_t width, std::uint16_t height);

  UniqueFd vnc_, file_, wake_;
  CaptureOptions options_;
  OnEnd on_end_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace vmshare::vm
