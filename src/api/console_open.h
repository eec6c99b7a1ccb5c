#pragma once
// Opening a console viewer once the caller is authorised: the one path every console WebSocket
// takes (the owner's /ws/<vmid>, and share-link viewers in view_only mode).
#include <memory>

#include <nlohmann/json.hpp>

#include "api/app_context.h"
#include "http/request.h"
#include "http/websocket_handoff.h"
#include "vm/console_viewers.h"
#include "vm/viewer_slots.h"

namespace vmshare::api {

// For a caller already authorised for `spec.vmid`: a fresh VNC connection QEMU took over QMP
// (blocking: call from a route's websocket handler, which runs on a worker), and the decision
// whose on_open bridges the accepted WebSocket in `spec.mode` and attaches it as a viewer of the
// VM (so it counts against the disconnect grace and is closed with "VM stopped"). The viewer is
// listed in vm::console_viewers() while open. `slot` (may be null) is released when the console
// closes. Answers the "binary" subprotocol when the request offers it. Throws what
// VmManager::open_console throws (no such VM: 404 through the error table).
http::WebSocketDecision open_console_viewer(AppContext& app, const http::Request& request, vm::ViewerSpec spec,
                                            std::shared_ptr<vm::ViewerSlots::Slot> slot);

}  // namespace vmshare::api

namespace vmshare::api {

// {id, mode, address, label, since, frames, bytes, fps, bps, latency_ms, latency_p50_ms,
// mine} of one viewer, as GET /vm/console_stats and the share viewer list answer it.
// `caller_id`: marks the caller's own viewers (mine: true).
nlohmann::json viewer_json(const vm::ViewerInfo& info, std::int64_t caller_id);

}  // namespace vmshare::api
