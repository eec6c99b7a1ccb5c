#include "vm/console_stats.h"

#include <algorithm>
#include <vector>

#include "obs/vmshare_metrics.h"
#include "vm/console_viewers.h"

namespace vmshare::vm {

namespace {

// Keys to the next screen: from a few ms (local, idle guest) to seconds (TCG under load).
const std::vector<double> kLatencyBuckets{0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct ConsoleMetrics {
  std::shared_ptr<obs::Histogram> input_latency;
  explicit ConsoleMetrics(obs::Registry& r) {
    input_latency = r.histogram("vmshare_console_input_latency_seconds",
                                "Console input-to-update latency: an input message handed to the VM to its next screen bytes",
                                {}, kLatencyBuckets)
                        .series({});
    auto& frames = r.counter("vmshare_console_frames_total", "Console framebuffer updates sent to viewers");
    auto& viewers = r.gauge("vmshare_console_viewers", "Open console viewers by mode", {"mode"});
    auto& dropped = r.counter("vmshare_console_dropped_messages_total",
                              "Input messages of view-only console viewers not forwarded to the VM");
    auto& errors = r.counter("vmshare_console_protocol_errors_total",
                             "Console viewers closed for a malformed RFB stream");
    r.on_collect([&frames, &viewers, &dropped, &errors] {
      const auto& s = console_stats();
      frames.get().set_total(double(s.frames.load(std::memory_order_relaxed)));
      dropped.get().set_total(double(s.dropped_messages.load(std::memory_order_relaxed)));
      errors.get().set_total(double(s.protocol_errors.load(std::memory_order_relaxed)));
      for (auto mode : {ViewerMode::control, ViewerMode::view_only})
        viewers.with({to_string(mode)}).set(double(console_viewers().count(mode)));
    });
  }
};

ConsoleMetrics& console_metrics() {
  static ConsoleMetrics m(obs::default_registry());
  return m;
}

// Registered at start-up, so /metrics lists the console families before the first console.
[[maybe_unused]] const bool kRegistered = (console_metrics(), true);

}  // namespace

ConsoleStats& console_stats() {
  static ConsoleStats stats;
  return stats;
}

void observe_input_latency(double seconds) { console_metrics().input_latency->observe(seconds); }

ViewerMeter::ViewerMeter(Clock::time_point now) : window_start_(ticks(now)) {}

void ViewerMeter::request_forwarded() { request_pending_ = true; }

void ViewerMeter::input_forwarded(Clock::time_point now) {
  if (input_at_ == 0) input_at_ = ticks(now);
}

std::optional<double> ViewerMeter::bytes_from_vm(std::size_t n, Clock::time_point now) {
  const auto t = ticks(now);
  bytes_.fetch_add(n, std::memory_order_relaxed);
  if (request_pending_) {
    request_pending_ = false;
    frames_.fetch_add(1, std::memory_order_relaxed);
    console_stats().frames.fetch_add(1, std::memory_order_relaxed);
  }
  if (t - window_start_.load(std::memory_order_relaxed) >= Clock::duration(kWindow).count()) roll_window(t);
  if (input_at_ == 0) return std::nullopt;
  const double seconds = std::chrono::duration<double>(Clock::duration(t - input_at_)).count();
  input_at_ = 0;
  const auto slot = latency_count_.load(std::memory_order_relaxed);
  latency_ms_[slot % kLatencySamples].store(static_cast<float>(seconds * 1000), std::memory_order_relaxed);
  latency_count_.store(slot + 1, std::memory_order_release);
  return seconds;
}

void ViewerMeter::roll_window(std::int64_t now) {
  const double dt = std::chrono::duration<double>(Clock::duration(now - window_start_.load())).count();
  const auto f = frames_.load(std::memory_order_relaxed), b = bytes_.load(std::memory_order_relaxed);
  fps_.store(double(f - window_frames_.load()) / dt, std::memory_order_relaxed);
  bps_.store(double(b - window_bytes_.load()) / dt, std::memory_order_relaxed);
  window_frames_.store(f, std::memory_order_relaxed);
  window_bytes_.store(b, std::memory_order_relaxed);
  window_start_.store(now, std::memory_order_relaxed);
}

void ViewerMeter::fill(ViewerInfo& info, Clock::time_point now) const {
  info.frames = frames();
  info.bytes = bytes();
  const auto start = window_start_.load(std::memory_order_relaxed);
  const double open_s = std::chrono::duration<double>(Clock::duration(ticks(now) - start)).count();
  if (open_s > 2 * std::chrono::duration<double>(kWindow).count()) {
    // No window completed lately: the rate since the last one, which decays while idle.
    info.fps = double(info.frames - window_frames_.load(std::memory_order_relaxed)) / open_s;
    info.bps = double(info.bytes - window_bytes_.load(std::memory_order_relaxed)) / open_s;
  } else {
    info.fps = fps_.load(std::memory_order_relaxed);
    info.bps = bps_.load(std::memory_order_relaxed);
  }
  const auto count = latency_count_.load(std::memory_order_acquire);
  if (count == 0) return;
  info.latency_ms = latency_ms_[(count - 1) % kLatencySamples].load(std::memory_order_relaxed);
  std::vector<float> samples;
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(count, kLatencySamples); ++i)
    samples.push_back(latency_ms_[i].load(std::memory_order_relaxed));
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  info.latency_p50_ms = samples[samples.size() / 2];
}

}  // namespace vmshare::vm
