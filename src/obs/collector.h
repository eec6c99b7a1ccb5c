#pragma once
// Refreshes the host, user and database gauges on a timer (its own thread: the sources block on
// the database). The sources are plain functions so obs needs neither the store nor the VMs.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "obs/host_sampler.h"
#include "obs/vmshare_metrics.h"

namespace vmshare::obs {

struct CollectorSources {
  std::function<std::int64_t()> users_total;
  std::function<std::int64_t()> active_sessions;
  std::function<std::map<std::int64_t, std::int64_t>()> vm_pids_by_user;  // user -> QEMU pid
  std::function<std::int64_t()> db_pool_in_use;
};

class Collector {
 public:
  Collector(VmshareMetrics& metrics, CollectorSources sources, std::chrono::milliseconds period,
            std::string proc_root = "/proc");
  ~Collector();  // stops the thread
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  void start();
  void stop();
  // One round (the thread calls it; tests call it directly). A failing source is logged and
  // leaves its gauge as it was.
  void collect_once();

 private:
  VmshareMetrics& metrics_;
  CollectorSources sources_;
  std::chrono::milliseconds period_;
  HostSampler sampler_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vmshare::obs
