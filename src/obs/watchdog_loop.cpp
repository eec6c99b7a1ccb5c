#include "obs/watchdog_loop.h"

#include <spdlog/spdlog.h>

namespace vmshare::obs {

std::vector<std::unique_ptr<AlertSink>> make_alert_sinks(const Config& config, const std::string& host) {
  std::vector<std::unique_ptr<AlertSink>> sinks;
  if (!config.sentry_dsn.empty()) {
    if (auto dsn = parse_sentry_dsn(config.sentry_dsn)) sinks.push_back(std::make_unique<SentrySink>(*dsn, host));
    else spdlog::warn("watchdog: SENTRY_DSN is malformed (expected https://<key>@host/<project>); Sentry alerts are off");
  }
  TelegramTarget tg{config.telegram_api_url, config.tg_bot_token, config.tg_chat_id};
  if (tg.configured()) sinks.push_back(std::make_unique<TelegramSink>(tg, host));
  else if (!tg.token.empty() || !tg.chat_id.empty())
    spdlog::warn("watchdog: Telegram alerts need both TG_BOT_TOKEN and TG_CHAT_ID; they are off");
  return sinks;
}

WatchdogSettings watchdog_settings(const Config& config) {
  WatchdogSettings s;
  s.cpu_thresh = config.cpu_thresh;
  s.ram_thresh = config.ram_thresh;
  s.disks = config.disk_free_thresholds_gib;
  s.sustained = std::chrono::seconds(config.sustained_s);
  return s;
}

WatchdogLoop::WatchdogLoop(WatchdogSettings settings, std::chrono::milliseconds interval,
                           std::function<std::map<std::int64_t, std::int64_t>()> vm_pids_by_user,
                           std::unique_ptr<AlertDispatcher> dispatcher, VmshareMetrics* metrics)
    : watchdog_(settings), disks_(settings.disks), interval_(interval), pids_(std::move(vm_pids_by_user)),
      dispatcher_(std::move(dispatcher)), metrics_(metrics) {}

WatchdogLoop::~WatchdogLoop() { stop(); }

void WatchdogLoop::start() {
  thread_ = std::thread([this] {
    sampler_.sample({});  // the CPU baseline
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) break;
      lock.unlock();
      try {
        tick();
      } catch (const std::exception& e) {
        spdlog::warn("watchdog: sampling failed: {}", e.what());
      }
      lock.lock();
    }
  });
}

void WatchdogLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  dispatcher_.reset();
}

void WatchdogLoop::tick() {
  std::map<std::int64_t, std::int64_t> pids;
  if (pids_) {
    try {
      pids = pids_();
    } catch (const std::exception& e) {
      spdlog::debug("watchdog: VM list unavailable: {}", e.what());
    }
  }
  const auto sample = sampler_.sample(pids);
  WatchdogReading reading;
  reading.cpu_percent = sample.cpu_percent;
  reading.ram_percent = sample.ram_percent;
  reading.vm_rss_bytes = sample.vm_rss_bytes;
  reading.vm_count = sample.vm_count;
  for (const auto& d : disks_) {
    if (auto free = free_gib(d.mount)) {
      reading.disk_free_gib[d.mount] = *free;
      if (metrics_) metrics_->host_disk_free_bytes.with({d.mount}).set(*free * 1024.0 * 1024.0 * 1024.0);
    }
  }
  for (const auto& alert : watchdog_.update(reading, WatchdogClock::now())) {
    const auto text = alert_text(alert);
    if (alert.state == AlertState::resolved) spdlog::info("watchdog: {}", text);
    else spdlog::warn("watchdog: {}", text);
    if (metrics_) metrics_->alerts_total.with({alert.condition, alert_state_name(alert.state)}).inc();
    if (dispatcher_) dispatcher_->post(alert);
  }
}

}  // namespace vmshare::obs
