#pragma once
// Where watchdog alerts go. Remote sinks (Sentry, Telegram) each get their own worker thread and
// bounded queue, so a slow or failing one never blocks the watchdog or the other sinks; a
// failure is logged with the sink's name only (never its URL, token or key).
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "obs/sentry.h"
#include "obs/telegram.h"
#include "obs/watchdog.h"

namespace vmshare::obs {

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual const char* name() const = 0;
  virtual void send(const Alert& alert) = 0;  // blocking; throws on failure
};

class SentrySink final : public AlertSink {
 public:
  SentrySink(SentryDsn dsn, std::string host) : dsn_(std::move(dsn)), host_(std::move(host)) {}
  const char* name() const override { return "sentry"; }
  void send(const Alert& alert) override;

 private:
  SentryDsn dsn_;
  std::string host_;
};

class TelegramSink final : public AlertSink {
 public:
  TelegramSink(TelegramTarget target, std::string host) : target_(std::move(target)), host_(std::move(host)) {}
  const char* name() const override { return "telegram"; }
  void send(const Alert& alert) override;

 private:
  TelegramTarget target_;
  std::string host_;
};

// Fans alerts out to the sinks, one worker per sink.
class AlertDispatcher {
 public:
  explicit AlertDispatcher(std::vector<std::unique_ptr<AlertSink>> sinks, std::size_t max_queue = 32);
  ~AlertDispatcher();  // stops the workers; alerts still queued are dropped
  AlertDispatcher(const AlertDispatcher&) = delete;
  AlertDispatcher& operator=(const AlertDispatcher&) = delete;

  void post(const Alert& alert);  // never blocks
  std::size_t sink_count() const { return workers_.size(); }

 private:
  struct Worker {
    std::unique_ptr<AlertSink> sink;
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Alert> queue;
    bool stopping = false;
    std::thread thread;
  };
  static void run(Worker& w);
  std::size_t max_queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace vmshare::obs
