#include "obs/collector.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

namespace vmshare::obs {

namespace {
template <class F>
void guarded(const char* what, F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::debug("metrics: {} unavailable: {}", what, e.what());
  }
}
}  // namespace

Collector::Collector(VmshareMetrics& metrics, CollectorSources sources, std::chrono::milliseconds period,
                     std::string proc_root)
    : metrics_(metrics), sources_(std::move(sources)), period_(period), sampler_(std::move(proc_root)) {}

Collector::~Collector() { stop(); }

void Collector::start() {
  thread_ = std::thread([this] {
    collect_once();  // the CPU baseline; the first share follows half a second later
    std::unique_lock lock(mutex_);
    auto wait = std::min<std::chrono::milliseconds>(period_, std::chrono::milliseconds(500));
    while (!stopping_) {
      if (wake_.wait_for(lock, wait, [this] { return stopping_; })) break;
      wait = period_;
      lock.unlock();
      collect_once();
      lock.lock();
    }
  });
}

void Collector::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Collector::collect_once() {
  if (sources_.users_total) guarded("user count", [&] { metrics_.users_total.get().set_total(double(sources_.users_total())); });
  if (sources_.active_sessions)
    guarded("session count", [&] { metrics_.active_sessions.get().set(double(sources_.active_sessions())); });
  if (sources_.db_pool_in_use)
    guarded("pool use", [&] { metrics_.db_pool_in_use.get().set(double(sources_.db_pool_in_use())); });

  std::map<std::int64_t, std::int64_t> pids;
  if (sources_.vm_pids_by_user) guarded("VM list", [&] { pids = sources_.vm_pids_by_user(); });
  const auto sample = sampler_.sample(pids);
  if (sample.cpu_percent) metrics_.host_cpu_percent.get().set(*sample.cpu_percent);
  if (sample.ram_percent) metrics_.host_ram_percent.get().set(*sample.ram_percent);

  std::set<std::string> current;
  for (const auto& [user, usage] : sample.users) {
    const std::string id = std::to_string(user);
    current.insert(id);
    metrics_.user_active_vms.with({id}).set(usage.vms);
    metrics_.user_cpu_percent.with({id}).set(usage.cpu_percent);
    metrics_.user_rss_bytes.with({id}).set(double(usage.rss_bytes));
  }
  // Users who no longer run a VM leave the exposition instead of lingering at their last value.
  auto keep = [&](const LabelValues& v) { return !v.empty() && current.count(v[0]) > 0; };
  metrics_.user_active_vms.retain(keep);
  metrics_.user_cpu_percent.retain(keep);
  metrics_.user_rss_bytes.retain(keep);
}

}  // namespace vmshare::obs
