#pragma once
// vmshare's metrics, by the names API.md fixes (dashboards depend on them), registered on one
// registry. The process has one instance (metrics()); tests build their own on a fresh registry.
#include <cstdint>
#include <string>

#include "obs/metrics_registry.h"

namespace vmshare::obs {

struct VmshareMetrics {
  explicit VmshareMetrics(Registry& registry);

  Registry& registry;
  // HTTP, labelled by route template (never the raw URL), method and status.
  CounterFamily& requests_total;
  HistogramFamily& request_duration_seconds;
  CounterFamily& failed_logins_total;
  // Host and users (the collector).
  GaugeFamily& host_cpu_percent;
  GaugeFamily& host_ram_percent;
  GaugeFamily& host_disk_free_bytes;  // {mount}, the watchdog's mounts
  // A counter by type (promtool rejects "_total" on gauges and the name is fixed): vmshare never
  // deletes users, so the mirrored count only grows.
  CounterFamily& users_total;
  GaugeFamily& active_sessions;
  GaugeFamily& user_active_vms;  // {user_id}
  GaugeFamily& user_cpu_percent;  // {user_id}
  GaugeFamily& user_rss_bytes;    // {user_id}
  // Database.
  HistogramFamily& db_query_seconds;  // {op}
  CounterFamily& db_errors_total;     // {op}
  GaugeFamily& db_pool_in_use;
  // VMs and consoles.
  GaugeFamily& console_open;
  CounterFamily& console_bytes_total;  // {direction}
  HistogramFamily& vm_launch_duration_seconds;  // {result}
  CounterFamily& vm_exits_total;                // {reason}
  // Caps (CONSOLE_VIEWERS_PER_*, UPLOADS_PER_USER, *_STORE_MAX_*, MIN_FREE_DISK_MB, FEEDBACK_*):
  // requests refused by each, and what the node's stores hold.
  CounterFamily& cap_refusals_total;  // {cap}: console_per_vm | console_per_user | uploads_per_user |
                                      // iso_store | snapshot_store | disk_free | feedback
  GaugeFamily& uploads_in_progress;
  GaugeFamily& stored_bytes;  // {store}: isos | snapshots (this node's)
  GaugeFamily& stored_files;  // {store}
  // The watchdog.
  CounterFamily& alerts_total;  // {condition, state}
  GaugeFamily& build_info;      // {version}

  // One finished HTTP request; failed sign-ins are counted from /login and /token answers.
  void observe_request(const std::string& method, const std::string& route, int status, double seconds);
  void set_build_info(const std::string& version);
};

Registry& default_registry();
VmshareMetrics& metrics();  // on default_registry()

}  // namespace vmshare::obs
