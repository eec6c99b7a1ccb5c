#pragma once
// The Prometheus text exposition format 0.0.4 (what /metrics serves and `promtool check metrics` reads).
#include <string>
#include <vector>

#include "obs/metrics_registry.h"

namespace vmshare::obs {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheus_text(const std::vector<FamilySnapshot>& families);

// Escaping rules of the format: HELP escapes \ and newline; label values also escape ".
std::string escape_help(const std::string& text);
std::string escape_label_value(const std::string& value);
// Go-compatible float text: integers without exponent, NaN, +Inf, -Inf.
std::string format_value(double v);

}  // namespace vmshare::obs
