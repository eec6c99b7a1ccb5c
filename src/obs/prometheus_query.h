#pragma once
// /metrics?query=... forwarded to Prometheus' HTTP API: /api/v1/query, or /api/v1/query_range
// when start, end and step are given.
#include <map>
#include <stdexcept>
#include <string>

namespace vmshare::obs {

// The request is unusable (no query, an incomplete range): the message is for the user (400).
struct BadQuery : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

std::string prometheus_query_url(const std::string& prom_url, const std::map<std::string, std::string>& params);

}  // namespace vmshare::obs
