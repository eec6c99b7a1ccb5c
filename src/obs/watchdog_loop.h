#pragma once
// Runs the watchdog every INTERVAL seconds on its own thread: samples host CPU, RAM, the watched
// mounts and the VMs' total RSS, feeds the state machine, logs each alert, counts it, and hands
// it to the dispatcher (which sends on other threads).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/config.h"
#include "obs/alert_sinks.h"
#include "obs/host_sampler.h"
#include "obs/vmshare_metrics.h"
#include "obs/watchdog.h"

namespace vmshare::obs {

// The Sentry and Telegram sinks the configuration enables (a malformed SENTRY_DSN is logged
// and skipped).
std::vector<std::unique_ptr<AlertSink>> make_alert_sinks(const Config& config, const std::string& host);
WatchdogSettings watchdog_settings(const Config& config);

class WatchdogLoop {
 public:
  WatchdogLoop(WatchdogSettings settings, std::chrono::milliseconds interval,
               std::function<std::map<std::int64_t, std::int64_t>()> vm_pids_by_user,
               std::unique_ptr<AlertDispatcher> dispatcher, VmshareMetrics* metrics = nullptr);
  ~WatchdogLoop();
  WatchdogLoop(const WatchdogLoop&) = delete;
  WatchdogLoop& operator=(const WatchdogLoop&) = delete;

  void start();
  void stop();
  void tick();  // one sample and decision

 private:
  Watchdog watchdog_;
  std::vector<DiskThreshold> disks_;
  std::chrono::milliseconds interval_;
  std::function<std::map<std::int64_t, std::int64_t>()> pids_;
  std::unique_ptr<AlertDispatcher> dispatcher_;
  VmshareMetrics* metrics_;
  HostSampler sampler_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vmshare::obs
