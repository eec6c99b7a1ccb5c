#include "obs/alert_sinks.h"

#include <ctime>

#include <spdlog/spdlog.h>

namespace vmshare::obs {

void SentrySink::send(const Alert& alert) {
  const char* level = alert.state == AlertState::resolved ? "info" : "warning";
  auto event = sentry_event(alert_text(alert), level,
                            {{"condition", alert.condition}, {"state", alert_state_name(alert.state)}}, host_,
                            static_cast<std::int64_t>(std::time(nullptr)));
  sentry_send(dsn_, event);
}

void TelegramSink::send(const Alert& alert) { telegram_send(target_, alert_html(alert, host_)); }

AlertDispatcher::AlertDispatcher(std::vector<std::unique_ptr<AlertSink>> sinks, std::size_t max_queue)
    : max_queue_(max_queue) {
  for (auto& s : sinks) {
    auto w = std::make_unique<Worker>();
    w->sink = std::move(s);
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->thread = std::thread([&w = *w] { run(w); });
}

AlertDispatcher::~AlertDispatcher() {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mutex);
      w->stopping = true;
    }
    w->wake.notify_all();
  }
  // A send in progress ends within its HTTP timeout.
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

void AlertDispatcher::post(const Alert& alert) {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mutex);
      if (w->queue.size() >= max_queue_) {
        w->queue.pop_front();
        spdlog::warn("watchdog: {} is behind; dropped its oldest queued alert", w->sink->name());
      }
      w->queue.push_back(alert);
    }
    w->wake.notify_one();
  }
}

void AlertDispatcher::run(Worker& w) {
  std::unique_lock lock(w.mutex);
  for (;;) {
    w.wake.wait(lock, [&] { return w.stopping || !w.queue.empty(); });
    if (w.stopping) return;
    Alert alert = std::move(w.queue.front());
    w.queue.pop_front();
    lock.unlock();
    try {
      w.sink->send(alert);
      spdlog::debug("watchdog: {} alert sent to {}", alert.condition, w.sink->name());
    } catch (const std::exception& e) {
      // The sinks' errors never carry a URL, token or key.
      spdlog::warn("watchdog: sending the {} alert to {} failed: {}", alert.condition, w.sink->name(), e.what());
    }
    lock.lock();
  }
}

}  // namespace vmshare::obs
