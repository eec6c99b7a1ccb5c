#include "api/cluster_routing.h"

#include <spdlog/spdlog.h>

#include "api/json_body.h"
#include "api/launch_response.h"
#include "cluster/errors.h"
#include "cluster/request_signing.h"
#include "cluster/route_decision.h"
#include "core/errors.h"
#include "http/router.h"
#include "vm/exit_reason.h"

namespace vmshare::api {

namespace {

bool serve_here_anyway(const AppContext& app, const http::Request& request) {
  return !app.cluster || !request.cluster_peer.empty();
}

vm::VmView view_of(const cluster::VmRow& row) {
  vm::VmView v;
  v.vmid = row.vmid;
  v.user_id = row.user_id;
  v.os_type = row.os_type;
  v.status = "running";
  v.started_at = row.started_at;
  v.expires_at = row.expires_at;
  return v;
}

}  // namespace

namespace {
// The node running the caller's VM when it is not this one (nullopt: serve here).
std::optional<std::string> vm_owner_elsewhere(AppContext& app, const http::Request& request, std::int64_t user_id) {
  if (serve_here_anyway(app, request)) return std::nullopt;
  if (app.vms->vm_of_user(user_id)) return std::nullopt;  // here: no need to ask the table
  auto& c = *app.cluster;
  auto row = c.store().latest_vm_of_user(user_id);
  if (row && row->state == "lost")
    throw cluster::VmLost("Your VM was lost: the node running it stopped answering. You can start a new one.");
  auto where = cluster::decide_route(c.self(), row ? std::optional(row->node) : std::nullopt, false);
  if (!where.forward) return std::nullopt;
  return where.node;
}
}  // namespace

std::optional<http::Response> forward_to_vm_owner(AppContext& app, http::Request& request, std::int64_t user_id) {
  const auto node = vm_owner_elsewhere(app, request, user_id);
  if (!node) return std::nullopt;
  return app.cluster->forwarder().forward(app.cluster->peer(*node), request);
}

std::optional<http::Response> forward_upload_to_vm_owner(AppContext& app, http::Request& request,
                                                         std::int64_t user_id) {
  const auto node = vm_owner_elsewhere(app, request, user_id);
  if (!node) return std::nullopt;
  return app.cluster->forwarder().forward_streaming(app.cluster->peer(*node), request);
}

std::optional<http::Response> forward_to_file_node(AppContext& app, http::Request& request, const std::string& node) {
  if (serve_here_anyway(app, request) || node.empty()) return std::nullopt;
  auto where = cluster::decide_route(app.cluster->self(), node, false);
  if (!where.forward) return std::nullopt;
  return app.cluster->forwarder().forward(app.cluster->peer(where.node), request);
}

std::optional<http::WebSocketDecision> forward_websocket_to_file_node(AppContext& app, http::Request& request,
                                                                      const std::string& node) {
  if (serve_here_anyway(app, request) || node.empty()) return std::nullopt;
  auto where = cluster::decide_route(app.cluster->self(), node, false);
  if (!where.forward) return std::nullopt;
  return app.cluster->forwarder().forward_websocket(app.cluster->peer(where.node), request);
}

std::optional<http::Response> place_launch(AppContext& app, http::Request& request, std::int64_t user_id,
                                           int memory_mb, std::optional<std::string> only_on) {
  if (serve_here_anyway(app, request)) return std::nullopt;
  auto& c = *app.cluster;
  if (auto row = c.store().running_vm_of_user(user_id)) {
    if (row->node == c.self()) return std::nullopt;  // the manager returns it, with its live status
    return launch_response({view_of(*row), false}, "");
  }
  const auto node = c.place({memory_mb, std::move(only_on)});
  if (node == c.self()) return std::nullopt;
  return c.forwarder().forward(c.peer(node), request, {{cluster::kHeaderPlaced, "1"}});
}

http::Response launch_here(AppContext& app, const vm::LaunchSpec& spec, const std::string& message) {
  try {
    return launch_response(app.vms->launch(spec), message);
  } catch (const cluster::AlreadyRunning& held) {
    // Another request for this user (perhaps on another node) claimed first: its VM is the answer.
    if (held.vm.node == app.cluster->self())
      if (auto v = app.vms->vm_of_user(spec.user_id)) return launch_response({*v, false}, message);
    return launch_response({view_of(held.vm), false}, message);
  }
}

std::optional<http::WebSocketDecision> forward_console(AppContext& app, http::Request& request,
                                                       const std::string& vmid, std::int64_t user_id, bool admin) {
  if (serve_here_anyway(app, request)) return std::nullopt;
  auto& c = *app.cluster;
  auto row = c.store().find(vmid);
  if (!row || row->state != "running" || row->node == c.self()) return std::nullopt;
  if (row->user_id != user_id && !admin) throw ApiError(403, "This console belongs to another user");
  return c.forwarder().forward_websocket(c.peer(row->node), request);
}

void end_vm_of_user(AppContext& app, std::int64_t user_id) {
  if (auto v = app.vms->vm_of_user(user_id)) return app.vms->terminate(v->vmid, vm::ExitReason::logout);
  if (!app.cluster) return;
  auto& c = *app.cluster;
  auto row = c.store().running_vm_of_user(user_id);
  if (!row || row->node == c.self()) return;
  http::Request internal;
  internal.method = "POST";
  internal.target = "/internal/vm/end";
  internal.body = nlohmann::json{{"vmid", row->vmid}}.dump();
  internal.headers["Content-Type"] = "application/json";
  auto answer = c.forwarder().forward(c.peer(row->node), internal);
  if (answer.status != 200) spdlog::warn("cluster: ending VM {} on {} answered {}", row->vmid, row->node, answer.status);
}

void register_cluster_routes(http::Router& router, AppContext& app) {
  // Only over the internal channel (signed by a node): ends a VM of this node at once.
  router.post("/internal/vm/end", [&app](http::Request& request) {
    if (request.cluster_peer.empty()) throw ApiError(404, "Not Found");
    auto body = parse_body_object(request);
    const auto vmid = require_string(body, "vmid");
    if (app.vms->find(vmid)) app.vms->terminate(vmid, vm::ExitReason::logout);
    return http::json_response(200, {{"message", "VM ended"}, {"vmid", vmid}});
  });
}

}  // namespace vmshare::api
