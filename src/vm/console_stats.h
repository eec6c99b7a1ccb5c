#pragma once
// Console figures: process-wide counters read by the metrics exporter, and each viewer's meter.
// Plain atomics, so the bridge's hot path pays a few relaxed adds per chunk and readers need no
// lock.
//
// Definitions (what the toolbar, GET /vm/console_stats and the metrics mean):
// - bytes: bytes read from the VM's VNC connection for this viewer (each is then written to it).
// - a frame (framebuffer update): the first bytes from the VM after the viewer sent a
//   FramebufferUpdateRequest (RFB answers each request with one update; noVNC asks again after
//   each). Requests sent while one is still unanswered are not counted twice. The bridge does
//   not parse the server's stream (its encodings have no cheap boundaries), so a frame is an
//   answered request, not a decoded message.
// - input-to-update latency: from the moment the bridge has handed an input message (KeyEvent,
//   PointerEvent, QEMU extended key event) to the VM's socket (the write completed) to the
//   moment its next read from the VM returns bytes. Only the first input while none is
//   waiting starts the clock (later inputs ride along), so a sample is "how long the screen
//   took to answer"; input that changes nothing on screen is answered by whatever update comes
//   next.
//
// Metrics (no per-VM labels, bounded cardinality): vmshare_console_frames_total,
// vmshare_console_input_latency_seconds (histogram), vmshare_console_viewers{mode},
// vmshare_console_dropped_messages_total (view-only input not forwarded),
// vmshare_console_protocol_errors_total (viewers closed for a malformed stream); with the
// existing vmshare_console_open and vmshare_console_bytes_total{direction}.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace vmshare::vm {

struct ViewerInfo;

struct ConsoleStats {
  std::atomic<std::int64_t> open{0};              // bridges started and not yet finished
  std::atomic<std::int64_t> bytes_to_browser{0};  // VNC -> WebSocket payload bytes written
  std::atomic<std::int64_t> bytes_to_vm{0};       // WebSocket -> VNC bytes written
  std::atomic<std::int64_t> frames{0};            // framebuffer updates, all viewers
  std::atomic<std::int64_t> dropped_messages{0};  // input of view-only viewers not forwarded
  std::atomic<std::int64_t> protocol_errors{0};   // viewers closed for a malformed RFB stream
};

ConsoleStats& console_stats();

// One latency sample into vmshare_console_input_latency_seconds.
void observe_input_latency(double seconds);

// One viewer's figures. Written only by its bridge's strand (the "strand side" methods), read
// from any thread (snapshot). Fixed size: a few counters and kLatencySamples floats.
class ViewerMeter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kLatencySamples = 32;  // the median shown is over these
  static constexpr std::chrono::milliseconds kWindow{1000};

  explicit ViewerMeter(Clock::time_point now);

  // ---- strand side ----
  void request_forwarded();                    // a FramebufferUpdateRequest reached the VM
  void input_forwarded(Clock::time_point now);  // an input message reached the VM
  // `n` bytes read from the VM; returns the input-to-update latency when they end a wait.
  std::optional<double> bytes_from_vm(std::size_t n, Clock::time_point now);

  // ---- any thread ----
  std::uint64_t frames() const { return frames_.load(std::memory_order_relaxed); }
  std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // Fills frames, bytes, fps, bps, latency_ms and latency_p50_ms.
  void fill(ViewerInfo& info, Clock::time_point now) const;

 private:
  static std::int64_t ticks(Clock::time_point t) { return t.time_since_epoch().count(); }
  void roll_window(std::int64_t now);

  std::atomic<std::uint64_t> frames_{0}, bytes_{0};
  bool request_pending_ = false;           // strand only
  std::int64_t input_at_ = 0;              // strand only; 0: no input waiting
  // The rate window: counts at its start, and the rates of the last completed one.
  std::atomic<std::int64_t> window_start_;
  std::atomic<std::uint64_t> window_frames_{0}, window_bytes_{0};
  std::atomic<double> fps_{0}, bps_{0};
  std::array<std::atomic<float>, kLatencySamples> latency_ms_{};
  std::atomic<std::uint32_t> latency_count_{0};  // samples ever taken; the ring's next slot
};

}  // namespace vmshare::vm
