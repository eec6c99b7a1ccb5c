#pragma once
// Cluster mode in the handlers: each VM route asks here first whether the caller's VM (or the
// file a launch needs) is on another node, and if so gets that node's answer through the
// internal channel. On one node (app.cluster null) and for requests that arrived over the
// internal channel every function returns "serve here" (std::nullopt), so handlers are unchanged.
#include <cstdint>
#include <optional>
#include <string>

#include "api/app_context.h"
#include "http/request.h"
#include "http/router.h"
#include "http/response.h"
#include "http/websocket_handoff.h"
#include "vm/vm_manager.h"

namespace vmshare::api {

// Memory placement counts for a VM without a catalog profile (ISO, snapshot of a removed one),
// as vm/launch_plan.cpp gives it.
inline constexpr int kDefaultVmMemoryMb = 512;

// The caller's VM runs on another node: its answer. A VM given up as lost: VmLost (410).
std::optional<http::Response> forward_to_vm_owner(AppContext& app, http::Request& request, std::int64_t user_id);

// The same for a streaming route (a drop into the VM): the body goes to the owner as it arrives
// (cluster::Forwarder::forward_streaming), never held here.
std::optional<http::Response> forward_upload_to_vm_owner(AppContext& app, http::Request& request,
                                                         std::int64_t user_id);

// A snapshot file held by another node (download, removal): that node's answer.
std::optional<http::Response> forward_to_file_node(AppContext& app, http::Request& request, const std::string& node);

// A WebSocket about a file held by another node (a recording's replay): relayed there, after
// the caller's checks here; the owner checks again with the caller's own credentials.
std::optional<http::WebSocketDecision> forward_websocket_to_file_node(AppContext& app, http::Request& request,
                                                                      const std::string& node);

// A new VM: the caller's running VM wherever it is, or the node placement picks when that is
// not this one (its answer). `only_on`: the node that holds the launch's file.
std::optional<http::Response> place_launch(AppContext& app, http::Request& request, std::int64_t user_id,
                                           int memory_mb, std::optional<std::string> only_on);

// Launches here; in a cluster a user whose VM another node claimed first gets that VM.
http::Response launch_here(AppContext& app, const vm::LaunchSpec& spec, const std::string& message);

// /ws/<vmid> of a VM on another node, owned by the caller (or an admin): relayed there.
std::optional<http::WebSocketDecision> forward_console(AppContext& app, http::Request& request,
                                                       const std::string& vmid, std::int64_t user_id, bool admin);

// Logout: the user's VM is ended wherever it runs.
void end_vm_of_user(AppContext& app, std::int64_t user_id);

// The internal-only route a node uses to end a VM on another (logout there).
void register_cluster_routes(http::Router& router, AppContext& app);

}  // namespace vmshare::api
