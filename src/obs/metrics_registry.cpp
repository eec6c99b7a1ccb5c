#include "obs/metrics_registry.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vmshare::obs {

const char* metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

bool valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;  // "__" is reserved for Prometheus
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

const std::vector<double>& default_buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_->size() + 1]) {
  for (std::size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // Prometheus buckets are "less than or equal": the first bound >= v.
  const auto idx = static_cast<std::size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin());
  counts_[idx].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_->size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.buckets.emplace_back(i < bounds_->size() ? (*bounds_)[i] : INFINITY, running);
  }
  // The count is the +Inf bucket, so a scrape never sees count != le="+Inf".
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <class Metric>
std::shared_ptr<Metric> Family<Metric>::series(const LabelValues& values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument(name_ + ": expected " + std::to_string(label_names_.size()) + " label values");
  {
    std::shared_lock lock(mutex_);
    if (auto it = series_.find(values); it != series_.end()) return it->second;
  }
  std::unique_lock lock(mutex_);
  auto& slot = series_[values];
  if (!slot) slot = make_();
  return slot;
}

template <class Metric>
void Family<Metric>::remove(const LabelValues& values) {
  std::unique_lock lock(mutex_);
  series_.erase(values);
}

template <class Metric>
void Family<Metric>::retain(const std::function<bool(const LabelValues&)>& keep) {
  std::unique_lock lock(mutex_);
  std::erase_if(series_, [&](const auto& kv) { return !keep(kv.first); });
}

template <class Metric>
std::size_t Family<Metric>::size() const {
  std::shared_lock lock(mutex_);
  return series_.size();
}

template <class Metric>
FamilySnapshot Family<Metric>::snapshot() const {
  FamilySnapshot out{name_, help_, type_, {}};
  std::vector<std::pair<LabelValues, std::shared_ptr<Metric>>> copy;
  {
    std::shared_lock lock(mutex_);
    copy.assign(series_.begin(), series_.end());
  }
  for (const auto& [values, metric] : copy) {
    SeriesSnapshot s;
    for (std::size_t i = 0; i < values.size(); ++i) s.labels.emplace_back(label_names_[i], values[i]);
    if constexpr (std::is_same_v<Metric, Histogram>) s.histogram = metric->snapshot();
    else s.value = metric->value();
    out.series.push_back(std::move(s));
  }
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::entry(const std::string& name, MetricType type, std::vector<std::string>& labels,
                                 const std::vector<double>& buckets) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& l : labels)
    if (!valid_label_name(l) || (type == MetricType::histogram && l == "le"))
      throw std::invalid_argument(name + ": invalid label name: " + l);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != type || it->second.labels != labels || it->second.buckets != buckets)
      throw std::invalid_argument("metric " + name + " registered twice with different shapes");
    return it->second;
  }
  auto& e = families_[name];
  e.type = type;
  e.labels = labels;
  e.buckets = buckets;
  return e;
}

CounterFamily& Registry::counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  auto& e = entry(name, MetricType::counter, labels, {});
  if (!e.counter)
    e.counter = std::make_unique<CounterFamily>(name, help, MetricType::counter, labels,
                                                [] { return std::make_shared<Counter>(); });
  return *e.counter;
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  auto& e = entry(name, MetricType::gauge, labels, {});
  if (!e.gauge)
    e.gauge = std::make_unique<GaugeFamily>(name, help, MetricType::gauge, labels,
                                            [] { return std::make_shared<Gauge>(); });
  return *e.gauge;
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                     std::vector<double> buckets) {
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  std::erase_if(buckets, [](double b) { return std::isinf(b) || std::isnan(b); });
  std::lock_guard lock(mutex_);
  auto& e = entry(name, MetricType::histogram, labels, buckets);
  if (!e.histogram) {
    auto bounds = std::make_shared<const std::vector<double>>(buckets);
    e.histogram = std::make_unique<HistogramFamily>(name, help, MetricType::histogram, labels,
                                                    [bounds] { return std::make_shared<Histogram>(bounds); });
  }
  return *e.histogram;
}

void Registry::on_collect(std::function<void()> hook) {
  std::lock_guard lock(mutex_);
  hooks_.push_back(std::move(hook));
}

std::vector<FamilySnapshot> Registry::collect() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mutex_);
    hooks = hooks_;
  }
  // Outside the registry lock: hooks update families through their own locks.
  for (const auto& h : hooks) h();
  std::vector<FamilySnapshot> out;
  std::lock_guard lock(mutex_);
  for (const auto& [_, e] : families_) {
    if (e.counter) out.push_back(e.counter->snapshot());
    if (e.gauge) out.push_back(e.gauge->snapshot());
    if (e.histogram) out.push_back(e.histogram->snapshot());
  }
  return out;
}

}  // namespace vmshare::obs
