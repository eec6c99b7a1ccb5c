#include "api/observability.h"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "obs/collector.h"
#include "obs/vmshare_metrics.h"
#include "obs/watchdog_loop.h"
#include "store/db_observer.h"
#include "store/pg_user_store.h"
#include "vm/console_stats.h"

namespace vmshare::api {

namespace {

void on_db_call(const char* op, double seconds, bool failed) {
  auto& m = obs::metrics();
  m.db_query_seconds.with({op}).observe(seconds);
  if (failed) m.db_errors_total.with({op}).inc();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "vmshare";
  return buf;
}

class Running final : public Observability {
 public:
  Running(std::unique_ptr<obs::Collector> collector, std::unique_ptr<obs::WatchdogLoop> watchdog)
      : collector_(std::move(collector)), watchdog_(std::move(watchdog)) {}
  ~Running() override {
    watchdog_.reset();
    collector_.reset();
    store::set_db_observer(nullptr);
  }

 private:
  std::unique_ptr<obs::Collector> collector_;
  std::unique_ptr<obs::WatchdogLoop> watchdog_;
};

}  // namespace

std::unique_ptr<Observability> start_observability(AppContext& app, http::Server& server, const std::string& version) {
  auto& m = obs::metrics();
  m.set_build_info(version);
  store::set_db_observer(&on_db_call);
  server.on_request([](const http::RequestRecord& r) {
    obs::metrics().observe_request(r.method, r.route, r.status, r.seconds);
  });

  auto& hash_rejected = m.registry.counter(
      "vmshare_hash_queue_rejected_total", "Sign-ins and sign-ups answered 503: hash queue full, or waited too long", {"reason"});
  auto& hash_waiting = m.registry.gauge("vmshare_hash_queue_waiting", "Hash jobs waiting for a hash thread");
  // Values kept elsewhere are mirrored at scrape time, so they are never stale.
  m.registry.on_collect([&app, &m, &hash_rejected, &hash_waiting] {
    hash_rejected.with({"full"}).set_total(double(app.hashes->rejected_full()));
    hash_rejected.with({"timeout"}).set_total(double(app.hashes->rejected_timeout()));
    hash_waiting.get().set(double(app.hashes->queued()));
    const auto& c = vm::console_stats();
    m.console_open.get().set(double(c.open.load(std::memory_order_relaxed)));
    m.console_bytes_total.with({"to_browser"}).set_total(double(c.bytes_to_browser.load(std::memory_order_relaxed)));
    m.console_bytes_total.with({"to_vm"}).set_total(double(c.bytes_to_vm.load(std::memory_order_relaxed)));
    if (app.vms)
      for (const auto& [reason, n] : app.vms->exit_counts()) m.vm_exits_total.with({reason}).set_total(double(n));
  });

  obs::CollectorSources sources;
  sources.users_total = [&app] { return app.users->count_users(); };
  sources.active_sessions = [&app] { return static_cast<std::int64_t>(app.sessions->list_active().size()); };
  sources.vm_pids_by_user = [&app] { return app.vms ? app.vms->pids_by_user() : std::map<std::int64_t, std::int64_t>{}; };
  sources.db_pool_in_use = [&app]() -> std::int64_t {
    if (auto* pg = dynamic_cast<store::PgUserStore*>(app.users.get())) return static_cast<std::int64_t>(pg->pool_in_use());
    return store::db_calls_in_flight();
  };
  const auto interval = std::chrono::seconds(std::max(1, app.config.interval_s));
  auto collector = std::make_unique<obs::Collector>(m, sources, std::min<std::chrono::milliseconds>(std::chrono::seconds(15), interval));
  collector->start();

  const auto host = host_name();
  auto sinks = obs::make_alert_sinks(app.config, host);
  std::string enabled = "log";
  for (const auto& s : sinks) enabled += std::string(", ") + s->name();
  auto watchdog = std::make_unique<obs::WatchdogLoop>(
      obs::watchdog_settings(app.config), interval, sources.vm_pids_by_user,
      std::make_unique<obs::AlertDispatcher>(std::move(sinks)), &m);
  watchdog->start();
  spdlog::info("watchdog: every {} s, CPU >= {}%, RAM >= {}%, {} disk thresholds, sustained {} s; alerts to {}",
               interval.count(), app.config.cpu_thresh, app.config.ram_thresh, app.config.disk_free_thresholds_gib.size(),
               app.config.sustained_s, enabled);
  return std::make_unique<Running>(std::move(collector), std::move(watchdog));
}

}  // namespace vmshare::api
