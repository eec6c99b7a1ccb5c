#pragma once
// The watchdog's decisions as a pure state machine: readings and the time go in, alerts come
// out. A condition alerts once it has held for `sustained`, and again ("resolved") once it has
// been clear for `sustained`. Alerts of one condition are rate-limited to one per `repeat`:
// while it keeps firing a reminder goes out at that pace, and a condition that flaps is not
// re-announced sooner (its recovery is then not announced either).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace vmshare::obs {

using WatchdogClock = std::chrono::steady_clock;

struct WatchdogReading {
  std::optional<double> cpu_percent;
  std::optional<double> ram_percent;
  std::map<std::string, double> disk_free_gib;  // mount -> free GiB (unreadable mounts absent)
  std::uint64_t vm_rss_bytes = 0;
  int vm_count = 0;
};

struct WatchdogSettings {
  double cpu_thresh = 90;  // percent; at or above it is a breach
  double ram_thresh = 90;
  std::vector<DiskThreshold> disks;  // free below free_gib is a breach
  std::chrono::seconds sustained{120};
  std::chrono::seconds repeat{600};
};

enum class AlertState { firing, still_firing, resolved };
const char* alert_state_name(AlertState state);

struct Alert {
  std::string condition;  // "cpu", "ram" or "disk:<mount>"
  AlertState state = AlertState::firing;
  double value = 0;       // percent, or free GiB for disks
  double threshold = 0;
  std::chrono::seconds held{0};  // how long the breach (or the recovery) has lasted
  std::uint64_t vm_rss_bytes = 0;
  int vm_count = 0;
};

class Watchdog {
 public:
  explicit Watchdog(WatchdogSettings settings);
  std::vector<Alert> update(const WatchdogReading& reading, WatchdogClock::time_point now);
  std::uint64_t suppressed() const { return suppressed_; }  // alerts held back by the rate limit
  bool firing(const std::string& condition) const;

 private:
  struct Condition {
    std::optional<WatchdogClock::time_point> breach_since, clear_since;
    bool firing = false;
    bool announced = false;  // the current firing episode was sent
    std::optional<WatchdogClock::time_point> last_sent;
  };
  void step(const std::string& name, bool breach, double value, double threshold, const WatchdogReading& reading,
            WatchdogClock::time_point now, std::vector<Alert>& out);

  WatchdogSettings settings_;
  std::map<std::string, Condition> conditions_;
  std::uint64_t suppressed_ = 0;
};

// One line for humans (log, Sentry, Telegram before escaping), e.g.
// "CPU 97.3% >= 90% for 120 s (3 VMs, RSS 1.5 GiB)".
std::string alert_text(const Alert& alert);
std::string format_bytes(std::uint64_t bytes);

}  // namespace vmshare::obs
