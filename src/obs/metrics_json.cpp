#include "obs/metrics_json.h"

#include <cmath>

#include "obs/prometheus_text.h"

namespace vmshare::obs {

namespace {
// JSON has no NaN/Inf: those become strings, as in the text format.
nlohmann::json number(double v) {
  if (std::isnan(v) || std::isinf(v)) return format_value(v);
  return v;
}
}  // namespace

nlohmann::json metrics_json(const std::vector<FamilySnapshot>& families) {
  auto out = nlohmann::json::object();
  for (const auto& f : families) {
    auto series = nlohmann::json::array();
    for (const auto& s : f.series) {
      nlohmann::json labels = nlohmann::json::object();
      for (const auto& [k, v] : s.labels) labels[k] = v;
      nlohmann::json item{{"labels", labels}};
      if (f.type == MetricType::histogram) {
        nlohmann::json buckets = nlohmann::json::object();
        for (const auto& [bound, count] : s.histogram.buckets) buckets[format_value(bound)] = count;
        item["buckets"] = buckets;
        item["sum"] = number(s.histogram.sum);
        item["count"] = s.histogram.count;
      } else {
        item["value"] = number(s.value);
      }
      series.push_back(std::move(item));
    }
    out[f.name] = {{"type", metric_type_name(f.type)}, {"help", f.help}, {"series", series}};
  }
  return out;
}

}  // namespace vmshare::obs
