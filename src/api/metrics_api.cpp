// GET /metrics (Prometheus text, or with ?query= a proxy to Prometheus' HTTP API) and
// GET /metrics_json. Loopback clients, the METRICS_TOKEN bearer, or an admin session.
#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/obs_routes.h"
#include "api/routes.h"
#include "core/errors.h"
#include "obs/http_client.h"
#include "obs/metrics_access.h"
#include "obs/metrics_json.h"
#include "obs/prometheus_query.h"
#include "obs/prometheus_text.h"
#include "obs/vmshare_metrics.h"

namespace vmshare::api {

namespace {

void require_metrics_access(AppContext& app, const http::Request& request) {
  if (obs::metrics_access(request.remote_is_loopback, request.header("Authorization"), app.config.metrics_token) ==
      obs::MetricsAccess::allow)
    return;
  try {
    if (authenticate(app, request).is_admin()) return;
  } catch (const ApiError&) {
    // No usable session: the same answer as a non-admin one.
  }
  throw ApiError(403, "Metrics are available to local clients, the metrics token, or administrators");
}

http::Response prometheus_query(AppContext& app, const http::Request& request) {
  const std::string url = obs::prometheus_query_url(app.config.prom_url, request.query);  // BadQuery: 400
  if (app.config.prom_url.empty()) throw ApiError(503, "Prometheus is not configured (PROM_URL)");
  obs::HttpRequest out;
  out.url = url;
  out.headers = {{"Accept", "application/json"}};
  out.timeout = std::chrono::seconds(30);
  out.max_response_bytes = 32 << 20;
  obs::HttpResponse res;
  try {
    res = obs::http_request(out);
  } catch (const obs::HttpError& e) {
    spdlog::warn("metrics: Prometheus query failed: {}", e.what());
    throw ApiError(502, "Prometheus is unreachable");
  }
  // Its own errors (bad PromQL 400, timeouts 503, ...) pass through with their status and body.
  http::Response r;
  r.status = res.status;
  r.body = std::move(res.body);
  const auto* type = res.header("Content-Type");
  r.content_type = type ? *type : "application/json";
  return r;
}

}  // namespace

void register_metrics_routes(http::Router& router, AppContext& app) {
  router.get("/metrics", [&app](http::Request& request) {
    require_metrics_access(app, request);
    if (request.query.count("query")) return prometheus_query(app, request);
    http::Response r;
    r.content_type = obs::kPrometheusContentType;
    r.body = obs::prometheus_text(obs::default_registry().collect());
    return r;
  });
  router.get("/metrics_json", [&app](http::Request& request) {
    require_metrics_access(app, request);
    return http::json_response(200, obs::metrics_json(obs::default_registry().collect()));
  });
  register_grafana_routes(router, app);
  register_feedback_routes(router, app);
}

}  // namespace vmshare::api
