#pragma once
// Grafana Live's WebSocket through vmshare: the WebSocket side of the /grafana/<*> route.
#include <functional>

#include "api/app_context.h"
#include "http/request.h"
#include "http/websocket_handoff.h"

namespace vmshare::api {

std::function<http::WebSocketDecision(http::Request&)> grafana_live_websocket(AppContext& app);

}  // namespace vmshare::api
