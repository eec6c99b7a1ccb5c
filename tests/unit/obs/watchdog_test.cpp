#include "obs/watchdog.h"

#include <gtest/gtest.h>

using namespace vmshare::obs;
using namespace std::chrono_literals;

namespace {
WatchdogReading cpu(double v) {
  WatchdogReading r;
  r.cpu_percent = v;
  r.vm_rss_bytes = 3ull << 30;
  r.vm_count = 2;
  return r;
}
const WatchdogClock::time_point t0{};
}  // namespace

TEST(Watchdog, AlertsOnlyAfterSustainedBreachAndRecovers) {
  WatchdogSettings s;
  s.cpu_thresh = 90;
  s.sustained = 60s;
  Watchdog w(s);
  EXPECT_TRUE(w.update(cpu(95), t0).empty());
  EXPECT_TRUE(w.update(cpu(96), t0 + 30s).empty());
  auto a = w.update(cpu(97), t0 + 60s);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].condition, "cpu");
  EXPECT_EQ(a[0].state, AlertState::firing);
  EXPECT_EQ(a[0].held, 60s);
  EXPECT_EQ(a[0].vm_rss_bytes, 3ull << 30);
  EXPECT_EQ(alert_text(a[0]), "ALERT: CPU 97.0% >= 90% for 60 s (2 VMs, RSS 3.0 GiB)");
  // A short dip does not resolve; a sustained one does, once.
  EXPECT_TRUE(w.update(cpu(50), t0 + 90s).empty());
  EXPECT_TRUE(w.update(cpu(99), t0 + 100s).empty());
  EXPECT_TRUE(w.update(cpu(50), t0 + 110s).empty());
  auto r = w.update(cpu(40), t0 + 170s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, AlertState::resolved);
  EXPECT_EQ(alert_text(r[0]), "RESOLVED: CPU back to 40.0% (< 90%) for 60 s (2 VMs, RSS 3.0 GiB)");
  EXPECT_TRUE(w.update(cpu(40), t0 + 400s).empty());
  EXPECT_FALSE(w.firing("cpu"));
}

TEST(Watchdog, BreachInterruptedBeforeSustainedNeverAlerts) {
  WatchdogSettings s;
  s.sustained = 60s;
  Watchdog w(s);
  w.update(cpu(95), t0);
  w.update(cpu(10), t0 + 50s);
  EXPECT_TRUE(w.update(cpu(95), t0 + 70s).empty());  // the clock restarted at 70 s
  EXPECT_TRUE(w.update(cpu(95), t0 + 120s).empty());
  EXPECT_EQ(w.update(cpu(95), t0 + 130s).size(), 1u);
}

TEST(Watchdog, ZeroSustainedAndZeroThresholdFireAtOnce) {
  WatchdogSettings s;
  s.cpu_thresh = 0;
  s.sustained = 0s;
  Watchdog w(s);
  auto a = w.update(cpu(0), t0);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].state, AlertState::firing);
}

TEST(Watchdog, RepeatedAlertsAreRateLimited) {
  WatchdogSettings s;
  s.sustained = 0s;
  s.repeat = 600s;
  Watchdog w(s);
  EXPECT_EQ(w.update(cpu(95), t0).size(), 1u);
  // Still firing: quiet until the repeat interval, then one reminder.
  for (int i = 1; i < 60; ++i) EXPECT_TRUE(w.update(cpu(95), t0 + i * 10s).empty());
  auto again = w.update(cpu(95), t0 + 600s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].state, AlertState::still_firing);
  // Recovery of an announced alert is always sent.
  auto res = w.update(cpu(10), t0 + 610s);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].state, AlertState::resolved);
  // Flapping right after: suppressed, and so is its recovery.
  EXPECT_TRUE(w.update(cpu(95), t0 + 620s).empty());
  EXPECT_TRUE(w.update(cpu(10), t0 + 630s).empty());
  EXPECT_TRUE(w.update(cpu(95), t0 + 640s).empty());
  EXPECT_EQ(w.suppressed(), 2u);
  // Still breaching once the interval has passed: announced as a new alert.
  auto late = w.update(cpu(95), t0 + 1200s);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].state, AlertState::firing);
}

TEST(Watchdog, RamAndPerMountDisk) {
  WatchdogSettings s;
  s.ram_thresh = 80;
  s.disks = {{"/", 10}, {"/var", 50}};
  s.sustained = 0s;
  Watchdog w(s);
  WatchdogReading r;
  r.ram_percent = 85;
  r.disk_free_gib = {{"/", 20}, {"/var", 12.5}};
  auto a = w.update(r, t0);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].condition, "ram");
  EXPECT_EQ(a[1].condition, "disk:/var");
  EXPECT_EQ(alert_text(a[1]), "ALERT: disk /var has 12.5 GiB free (< 50 GiB) for 0 s (0 VMs, RSS 0 B)");
  // A missing reading leaves the condition alone.
  WatchdogReading none;
  EXPECT_TRUE(w.update(none, t0 + 1s).empty());
  EXPECT_TRUE(w.firing("disk:/var"));
  r.ram_percent = 10;
  r.disk_free_gib["/var"] = 60;
  auto b = w.update(r, t0 + 2s);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].state, AlertState::resolved);
  EXPECT_EQ(b[1].state, AlertState::resolved);
}
