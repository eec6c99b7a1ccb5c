#pragma once
// The registry as JSON for /metrics_json: {"<name>": {type, help, series: [{labels, value}]}};
// histogram series carry {buckets: {"<le>": cumulative count}, sum, count} instead of value.
#include <vector>

#include <nlohmann/json.hpp>

#include "obs/metrics_registry.h"

namespace vmshare::obs {

nlohmann::json metrics_json(const std::vector<FamilySnapshot>& families);

}  // namespace vmshare::obs
