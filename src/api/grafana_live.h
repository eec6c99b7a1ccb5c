#pragma once
// Grafana Live's WebSocket through vmshare: the WebSocket side of the /grafana/<*> route.
#include <functional>

#include "api/app_context.h"
#include "api/auth_guard.h"
#include "obs/grafana_proxy.h"
#include "http/request.h"
#include "http/websocket_handoff.h"

namespace vmshare::api {

std::function<http::WebSocketDecision(http::Request&)> grafana_live_websocket(AppContext& app);

// Whom Grafana sees for this caller: the auth proxy header (GRAFANA_AUTH_PROXY_HEADER) with
// the login and the fixed role, or nothing when that key is unset.
obs::GrafanaIdentity grafana_identity(const AppContext& app, const Caller& caller);

}  // namespace vmshare::api
