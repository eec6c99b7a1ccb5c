#include "obs/watchdog.h"

#include <fmt/format.h>

namespace vmshare::obs {

const char* alert_state_name(AlertState state) {
  switch (state) {
    case AlertState::firing: return "firing";
    case AlertState::still_firing: return "still_firing";
    case AlertState::resolved: return "resolved";
  }
  return "unknown";
}

Watchdog::Watchdog(WatchdogSettings settings) : settings_(std::move(settings)) {}

bool Watchdog::firing(const std::string& condition) const {
  auto it = conditions_.find(condition);
  return it != conditions_.end() && it->second.firing;
}

std::vector<Alert> Watchdog::update(const WatchdogReading& r, WatchdogClock::time_point now) {
  std::vector<Alert> out;
  // A reading that is missing leaves its condition as it was.
  if (r.cpu_percent) step("cpu", *r.cpu_percent >= settings_.cpu_thresh, *r.cpu_percent, settings_.cpu_thresh, r, now, out);
  if (r.ram_percent) step("ram", *r.ram_percent >= settings_.ram_thresh, *r.ram_percent, settings_.ram_thresh, r, now, out);
  for (const auto& d : settings_.disks) {
    auto it = r.disk_free_gib.find(d.mount);
    if (it != r.disk_free_gib.end()) step("disk:" + d.mount, it->second < d.free_gib, it->second, d.free_gib, r, now, out);
  }
  return out;
}

void Watchdog::step(const std::string& name, bool breach, double value, double threshold, const WatchdogReading& r,
                    WatchdogClock::time_point now, std::vector<Alert>& out) {
  auto& c = conditions_[name];
  auto held = [&](WatchdogClock::time_point since) {
    return std::chrono::duration_cast<std::chrono::seconds>(now - since);
  };
  auto emit = [&](AlertState state, std::chrono::seconds for_how_long) {
    out.push_back(Alert{name, state, value, threshold, for_how_long, r.vm_rss_bytes, r.vm_count});
  };
  if (breach) {
    c.clear_since.reset();
    if (!c.breach_since) c.breach_since = now;
    bool newly = false;
    if (!c.firing && now - *c.breach_since >= settings_.sustained) {
      c.firing = newly = true;
      c.announced = false;
    }
    if (!c.firing) return;
    if (c.last_sent && now - *c.last_sent < settings_.repeat) {
      if (newly) ++suppressed_;  // flapping: this episode stays quiet for now
      return;
    }
    emit(c.announced ? AlertState::still_firing : AlertState::firing, held(*c.breach_since));
    c.announced = true;
    c.last_sent = now;
    return;
  }
  c.breach_since.reset();
  if (!c.firing) return;
  if (!c.clear_since) c.clear_since = now;
  if (now - *c.clear_since < settings_.sustained) return;
  c.firing = false;
  // The recovery of an announced alert always goes out, so nobody is left thinking it still fires.
  if (c.announced) emit(AlertState::resolved, held(*c.clear_since));
  c.announced = false;
}

std::string format_bytes(std::uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{} B", bytes);
}

std::string alert_text(const Alert& a) {
  std::string what;
  if (a.condition == "cpu" || a.condition == "ram") {
    const char* label = a.condition == "cpu" ? "CPU" : "RAM";
    what = a.state == AlertState::resolved
               ? fmt::format("{} back to {:.1f}% (< {:g}%) for {} s", label, a.value, a.threshold, a.held.count())
               : fmt::format("{} {:.1f}% >= {:g}% for {} s", label, a.value, a.threshold, a.held.count());
  } else {
    const std::string mount = a.condition.substr(5);
    what = a.state == AlertState::resolved
               ? fmt::format("disk {} back to {:.1f} GiB free (>= {:g} GiB) for {} s", mount, a.value, a.threshold,
                             a.held.count())
               : fmt::format("disk {} has {:.1f} GiB free (< {:g} GiB) for {} s", mount, a.value, a.threshold,
                             a.held.count());
  }
  const char* prefix = a.state == AlertState::firing ? "ALERT" : a.state == AlertState::resolved ? "RESOLVED" : "STILL";
  return fmt::format("{}: {} ({} VMs, RSS {})", prefix, what, a.vm_count, format_bytes(a.vm_rss_bytes));
}

}  // namespace vmshare::obs
