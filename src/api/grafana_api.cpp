// Grafana on our own origin: the embeddable panel URL, the retired PNG renderer, and a reverse
// proxy to GRAFANA_URL for signed-in users (buffered, with a size cap).
#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/obs_routes.h"
#include "core/errors.h"
#include "obs/grafana_proxy.h"
#include "obs/http_client.h"

namespace vmshare::api {

namespace {

constexpr std::size_t kMaxGrafanaResponse = 32 << 20;

http::Response proxy(AppContext& app, http::Request& request) {
  authenticate(app, request);
  if (app.config.grafana_url.empty()) throw ApiError(404, "Grafana is not configured");
  obs::HttpRequest out;
  out.method = request.method;
  // The raw target keeps the client's encoding and query exactly; Grafana serves from /grafana/.
  out.url = obs::grafana_upstream_url(app.config.grafana_url, request.target);
  out.headers = obs::grafana_request_headers(obs::HeaderList(request.headers.begin(), request.headers.end()),
                                             request.peer_address);
  out.body = std::move(request.body);
  out.timeout = std::chrono::seconds(60);
  out.max_response_bytes = kMaxGrafanaResponse;
  obs::HttpResponse res;
  try {
    res = obs::http_request(out);
  } catch (const obs::HttpError& e) {
    spdlog::warn("grafana: proxying {} {} failed: {}", request.method, request.route, e.what());
    throw ApiError(502, "Grafana is unreachable");
  }
  http::Response r;
  r.status = res.status;
  const auto* type = res.header("Content-Type");
  r.content_type = type ? *type : "application/octet-stream";
  r.headers = obs::grafana_response_headers(res.headers);
  r.body = std::move(res.body);
  return r;
}

}  // namespace

void register_grafana_routes(http::Router& router, AppContext& app) {
  // Registered before the catch-all: the router takes the first matching route.
  router.get("/grafana/panel_iframe_src", [&app](http::Request& request) {
    try {
      return http::json_response(200, {{"src", obs::panel_iframe_src(app.config.grafana_iframe_base, request.query)}});
    } catch (const obs::BadPanelRequest& e) {
      throw ApiError(400, e.what());
    }
  });
  router.get("/grafana/panel.png", [](http::Request&) {
    return http::error_response(410, "Panel images are gone: embed the panel with /grafana/panel_iframe_src");
  });
  router.add(http::Route{"*", "/grafana/<*>", [&app](http::Request& request) { return proxy(app, request); },
                         http::BodyMode::buffered, 0, {}});
}

}  // namespace vmshare::api
