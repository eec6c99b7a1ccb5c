// Grafana on our own origin: the embeddable panel URL, the retired PNG renderer, and a reverse
// proxy to GRAFANA_URL for signed-in users. Response bodies are relayed as they arrive, with
// no size cap; the WebSocket (Grafana Live) side is in grafana_live.cpp.
#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/grafana_live.h"
#include "api/obs_routes.h"
#include "core/errors.h"
#include "http/response_stream.h"
#include "obs/grafana_proxy.h"
#include "obs/http_client.h"

namespace vmshare::api {

namespace {

// How long Grafana may think before its response starts (a slow query); the body then has to
// keep moving within READ_TIMEOUT_S, like a client's upload.
constexpr std::chrono::seconds kGrafanaHeaderTimeout{60};

http::Response proxy(AppContext& app, http::Request& request) {
  const auto caller = authenticate(app, request);
  if (app.config.grafana_url.empty()) throw ApiError(404, "Grafana is not configured");
  if (!request.response_stream) throw std::logic_error("the Grafana proxy needs a streamed response");
  auto& stream = *request.response_stream;
  obs::HttpRequest out;
  out.method = request.method;
  // The raw target keeps the client's encoding and query exactly; Grafana serves from /grafana/.
  out.url = obs::grafana_upstream_url(app.config.grafana_url, request.target);
  out.headers = obs::grafana_request_headers(obs::HeaderList(request.headers.begin(), request.headers.end()),
                                             request.peer_address, grafana_identity(app, caller));
  out.body = std::move(request.body);
  out.timeout = std::chrono::milliseconds(0);  // a body of any size takes as long as it takes
  out.header_timeout = kGrafanaHeaderTimeout;
  out.stall_timeout = std::chrono::seconds(app.config.read_timeout_s);
  bool client_gone = false;
  out.on_headers = [&](int status, const obs::HeaderList& headers) {
    http::Response head;
    head.status = status;
    const auto* type = obs::find_header(headers, "Content-Type");
    head.content_type = type ? *type : "application/octet-stream";
    head.headers = obs::grafana_response_headers(headers);
    stream.begin(head, obs::relayed_content_length(headers));
    return true;
  };
  out.on_body = [&](std::string_view chunk) {
    client_gone = !stream.write(chunk);
    return !client_gone;
  };
  try {
    obs::http_request(out);
  } catch (const obs::HttpError& e) {
    if (!stream.begun()) {
      spdlog::warn("grafana: proxying {} {} failed: {}", request.method, request.route, e.what());
      throw ApiError(502, "Grafana is unreachable");
    }
    // Without end(): the browser sees the response cut short, as it was.
    if (client_gone)
      spdlog::info("grafana: {} {}: the client stopped reading", request.method, request.route);
    else
      spdlog::warn("grafana: {} {} cut short: {}", request.method, request.route, e.what());
    return {};
  }
  if (!stream.begun()) throw ApiError(502, "Grafana sent no response");
  stream.end();
  return {};
}

}  // namespace

void register_grafana_routes(http::Router& router, AppContext& app) {
  // Registered before the catch-all: the router takes the first matching route.
  router.get("/grafana/panel_iframe_src", [&app](http::Request& request) {  // BadPanelRequest: 400
    return http::json_response(200, {{"src", obs::panel_iframe_src(app.config.grafana_iframe_base, request.query)}});
  });
  router.get("/grafana/panel.png", [](http::Request&) {
    return http::error_response(410, "Panel images are gone: embed the panel with /grafana/panel_iframe_src");
  });
  router.add(http::Route{"*", "/grafana/<*>", [&app](http::Request& request) { return proxy(app, request); },
                         http::BodyMode::buffered, 0, grafana_live_websocket(app)});
}

}  // namespace vmshare::api
