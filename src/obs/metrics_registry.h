#pragma once
// A small Prometheus-style metrics registry: counters, gauges and histograms with labels.
//
// Hot path: a family hands out a Series (a shared pointer to per-series atomics) under a shared
// lock, so concurrent requests only contend on a reader lock for a map lookup and then update
// lock-free atomics. Callers that know their labels up front may keep the Series and skip the
// lookup entirely. Exposition takes a snapshot; collect hooks refresh mirrored values first.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace vmshare::obs {

enum class MetricType { counter, gauge, histogram };
const char* metric_type_name(MetricType type);

using LabelValues = std::vector<std::string>;
using LabelPairs = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(double v = 1) {
    if (v > 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  // Mirrors a monotonic source kept elsewhere (e.g. the console's byte counters).
  void set_total(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  void observe(double v);
  // Cumulative counts per upper bound (the last is +Inf), the sum and the count.
  struct Snapshot {
    std::vector<std::pair<double, std::uint64_t>> buckets;
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::shared_ptr<const std::vector<double>> bounds_;  // sorted, without +Inf
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<double> sum_{0};
};

// One series of a snapshot. Counters and gauges use `value`; histograms `histogram`.
struct SeriesSnapshot {
  LabelPairs labels;
  double value = 0;
  Histogram::Snapshot histogram;
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::gauge;
  std::vector<SeriesSnapshot> series;  // sorted by label values
};

// A metric name with its label names; series are created on first use.
template <class Metric>
class Family {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::function<std::shared_ptr<Metric>()> make)
      : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // The series for these label values (one per label name, in order); created on first use.
  // Throws std::invalid_argument on a wrong number of values.
  std::shared_ptr<Metric> series(const LabelValues& values);
  Metric& with(const LabelValues& values) { return *series(values); }
  Metric& get() { return with({}); }  // a family without labels

  void remove(const LabelValues& values);
  // Drops every series whose label values fail `keep` (e.g. users no longer running a VM).
  void retain(const std::function<bool(const LabelValues&)>& keep);
  std::size_t size() const;

  const std::string& name() const { return name_; }
  FamilySnapshot snapshot() const;

 private:
  std::string name_, help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  std::function<std::shared_ptr<Metric>()> make_;
  mutable std::shared_mutex mutex_;
  std::map<LabelValues, std::shared_ptr<Metric>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Default request-latency buckets (seconds), Prometheus client style.
const std::vector<double>& default_buckets();

class Registry {
 public:
  // Registering a name again returns the same family when type and labels agree; otherwise (or
  // for an invalid metric or label name) throws std::invalid_argument.
  CounterFamily& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels = {},
                             std::vector<double> buckets = default_buckets());

  // Runs before every collect(): for values mirrored from elsewhere (atomics, VM manager).
  void on_collect(std::function<void()> hook);
  // Every family, sorted by name.
  std::vector<FamilySnapshot> collect() const;

 private:
  struct Entry {
    MetricType type;
    std::vector<std::string> labels;
    std::vector<double> buckets;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  Entry& entry(const std::string& name, MetricType type, std::vector<std::string>& labels,
               const std::vector<double>& buckets);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> families_;
  std::vector<std::function<void()>> hooks_;
};

bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

}  // namespace vmshare::obs
