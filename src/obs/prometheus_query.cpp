#include "obs/prometheus_query.h"

#include "obs/http_client.h"
#include "core/percent_encode.h"

namespace vmshare::obs {

std::string prometheus_query_url(const std::string& prom_url, const std::map<std::string, std::string>& params) {
  auto get = [&](const char* k) -> std::string {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  };
  const std::string query = get("query");
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) throw BadQuery("query is required");
  const std::string start = get("start"), end = get("end"), step = get("step");
  const bool any_range = !start.empty() || !end.empty() || !step.empty();
  if (any_range && (start.empty() || end.empty() || step.empty()))
    throw BadQuery("a range query needs start, end and step");
  std::string base = prom_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + (any_range ? "/api/v1/query_range" : "/api/v1/query") + "?query=" + percent_encode(query);
  if (any_range) url += "&start=" + percent_encode(start) + "&end=" + percent_encode(end) + "&step=" + percent_encode(step);
  for (const char* extra : {"time", "timeout"})
    if (auto v = get(extra); !v.empty() && !(any_range && std::string(extra) == "time"))
      url += std::string("&") + extra + "=" + percent_encode(v);
  return url;
}

}  // namespace vmshare::obs
