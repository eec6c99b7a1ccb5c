#include "obs/vmshare_metrics.h"

namespace vmshare::obs {

namespace {
// VM launches take seconds (QEMU start, QMP handshake), not milliseconds.
const std::vector<double> kLaunchBuckets{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60};
const std::vector<double> kDbBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}  // namespace

VmshareMetrics::VmshareMetrics(Registry& r)
    : registry(r),
      requests_total(r.counter("vmshare_requests_total", "HTTP requests answered", {"path", "method", "status"})),
      request_duration_seconds(r.histogram("vmshare_request_duration_seconds", "HTTP request duration in seconds",
                                           {"path", "method", "status"})),
      failed_logins_total(r.counter("vmshare_failed_logins_total", "Sign-in attempts refused (bad credentials or throttled)",
                                    {"reason"})),
      host_cpu_percent(r.gauge("vmshare_host_cpu_percent", "Host CPU busy share, percent")),
      host_ram_percent(r.gauge("vmshare_host_ram_percent", "Host memory in use (total minus available), percent")),
      host_disk_free_bytes(r.gauge("vmshare_host_disk_free_bytes", "Free bytes on watched mounts", {"mount"})),
      users_total(r.counter("vmshare_users_total", "Registered users")),
      active_sessions(r.gauge("vmshare_active_sessions", "Active VM sessions")),
      user_active_vms(r.gauge("vmshare_user_active_vms", "VMs running per user", {"user_id"})),
      user_cpu_percent(r.gauge("vmshare_user_cpu_percent", "CPU use of a user's QEMU processes, percent of one core",
                               {"user_id"})),
      user_rss_bytes(r.gauge("vmshare_user_rss_bytes", "Resident memory of a user's QEMU processes", {"user_id"})),
      db_query_seconds(r.histogram("vmshare_db_query_seconds", "Database call duration in seconds", {"op"}, kDbBuckets)),
      db_errors_total(r.counter("vmshare_db_errors_total", "Database calls that failed", {"op"})),
      db_pool_in_use(r.gauge("vmshare_db_pool_in_use", "Database connections (or SQLite calls) in use")),
      console_open(r.gauge("vmshare_console_open", "Open console WebSocket bridges")),
      console_bytes_total(r.counter("vmshare_console_bytes_total", "Console bytes relayed", {"direction"})),
      vm_launch_duration_seconds(r.histogram("vmshare_vm_launch_duration_seconds", "VM launch duration in seconds",
                                             {"result"}, kLaunchBuckets)),
      vm_exits_total(r.counter("vmshare_vm_exits_total", "VMs that ended, by reason", {"reason"})),
      cap_refusals_total(r.counter("vmshare_cap_refusals_total", "Requests refused by a configured cap", {"cap"})),
      uploads_in_progress(r.gauge("vmshare_uploads_in_progress", "ISO uploads being received")),
      stored_bytes(r.gauge("vmshare_stored_bytes", "Bytes held by this node's ISO and snapshot stores", {"store"})),
      stored_files(r.gauge("vmshare_stored_files", "Files held by this node's ISO and snapshot stores", {"store"})),
      alerts_total(r.counter("vmshare_alerts_total", "Watchdog alerts raised", {"condition", "state"})),
      build_info(r.gauge("vmshare_build_info", "Build information (always 1)", {"version"})) {}

void VmshareMetrics::observe_request(const std::string& method, const std::string& route, int status,
                                     double seconds) {
  const std::string code = std::to_string(status);
  requests_total.with({route, method, code}).inc();
  request_duration_seconds.with({route, method, code}).observe(seconds);
  if (route == "/login" || route == "/token") {
    if (status == 401) failed_logins_total.with({"bad_credentials"}).inc();
    else if (status == 429) failed_logins_total.with({"throttled"}).inc();
  }
}

void VmshareMetrics::set_build_info(const std::string& version) { build_info.with({version}).set(1); }

Registry& default_registry() {
  static Registry registry;
  return registry;
}

VmshareMetrics& metrics() {
  static VmshareMetrics m(default_registry());
  return m;
}

}  // namespace vmshare::obs
