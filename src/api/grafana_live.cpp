// Grafana Live: a WebSocket upgrade under /grafana/ (Grafana uses /grafana/api/live/ws) from a
// signed-in user with an allowed Origin is relayed to GRAFANA_URL's WebSocket, with the same
// header rules as the HTTP proxy (our session cookie and bearer never go upstream). Grafana is
// dialled before the browser's handshake is answered, so its failure is still an HTTP status.
#include "api/grafana_live.h"

#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "core/errors.h"
#include "http/websocket_client.h"
#include "http/websocket_relay.h"
#include "obs/grafana_proxy.h"

namespace vmshare::api {

namespace {
constexpr std::chrono::seconds kConnectTimeout{10};
}

std::function<http::WebSocketDecision(http::Request&)> grafana_live_websocket(AppContext& app) {
  return [&app](http::Request& request) {
    const auto caller = authenticate(app, request);
    // Browsers always send Origin on a WebSocket: another site's page must not ride the cookie.
    require_same_origin(app, request);
    if (app.config.grafana_url.empty()) throw ApiError(404, "Grafana is not configured");
    auto where = obs::grafana_ws_target(app.config.grafana_url, request.target);
    if (!where) throw ApiError(502, "Grafana Live through vmshare needs an http:// GRAFANA_URL");

    http::WebSocketTarget target{where->host, where->port, where->host_header, where->target};
    http::WebSocketClientOptions options;
    options.headers = obs::grafana_ws_request_headers(obs::HeaderList(request.headers.begin(), request.headers.end()),
                                                      request.peer_address, grafana_identity(app, caller));
    options.timeout = kConnectTimeout;
    // Filled by before_accept, taken by on_open: both run on the connection's strand.
    auto upstream = std::make_shared<std::shared_ptr<http::WebSocketStream>>();

    http::WebSocketDecision decision;
    decision.before_accept = [target, options, upstream](boost::asio::any_io_executor strand,
                                                         http::WebSocketDecision::Ready ready) {
      http::async_connect_websocket(
          strand, target, options,
          [upstream, ready](boost::beast::error_code ec, std::shared_ptr<http::WebSocketStream> ws,
                            http::WebSocketHandshake handshake) {
            if (!ec) {
              *upstream = std::move(ws);
              return ready(std::nullopt, std::move(handshake.subprotocol));
            }
            // Grafana's own refusal (its sign-in, say) is the browser's to see; anything else is ours.
            if (handshake.status >= 400 && handshake.status < 500)
              return ready(http::error_response(handshake.status, "Grafana refused the WebSocket"), {});
            spdlog::warn("grafana live: cannot open Grafana's WebSocket: {}", ec.message());
            ready(http::error_response(502, "Grafana is unreachable"), {});
          });
    };
    decision.on_open = [upstream](http::WebSocketStream&& browser) {
      if (!*upstream) return;
      http::WebSocketRelay::start(std::move(browser), std::move(**upstream), {"Grafana", {}});
      upstream->reset();
    };
    return decision;
  };
}

obs::GrafanaIdentity grafana_identity(const AppContext& app, const Caller& caller) {
  return {app.config.grafana_auth_proxy_header, caller.login, app.config.grafana_auth_proxy_role};
}

}  // namespace vmshare::api
