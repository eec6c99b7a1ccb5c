#include "obs/prometheus_text.h"

#include <cmath>

#include <fmt/format.h>

namespace vmshare::obs {

std::string escape_help(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);  // shortest round-trip representation
}

namespace {

void append_labels(std::string& out, const LabelPairs& labels, const char* extra_name = nullptr,
                   const std::string& extra_value = {}) {
  if (labels.empty() && !extra_name) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, const std::string& name, const LabelPairs& labels, double value,
                   const char* extra_name = nullptr, const std::string& extra_value = {}) {
  out += name;
  append_labels(out, labels, extra_name, extra_value);
  out += ' ';
  out += format_value(value);
  out += '\n';
}

}  // namespace

std::string prometheus_text(const std::vector<FamilySnapshot>& families) {
  std::string out;
  out.reserve(4096);
  for (const auto& f : families) {
    out += "# HELP " + f.name + ' ' + escape_help(f.help) + '\n';
    out += "# TYPE " + f.name + ' ' + metric_type_name(f.type) + '\n';
    for (const auto& s : f.series) {
      if (f.type != MetricType::histogram) {
        append_sample(out, f.name, s.labels, s.value);
        continue;
      }
      for (const auto& [bound, count] : s.histogram.buckets)
        append_sample(out, f.name + "_bucket", s.labels, static_cast<double>(count), "le", format_value(bound));
      append_sample(out, f.name + "_sum", s.labels, s.histogram.sum);
      append_sample(out, f.name + "_count", s.labels, static_cast<double>(s.histogram.count));
    }
  }
  return out;
}

}  // namespace vmshare::obs
