// GET /images; POST /run-script, /run-iso; GET /sessions/active; /vm/status, /vm/stop,
// /vm/reset, /vm/screenshot; the console WebSocket /ws/<vmid>.
#include <charconv>

#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/cluster_routing.h"
#include "api/console_admission.h"
#include "api/console_open.h"
#include "api/json_body.h"
#include "api/launch_response.h"
#include "api/routes.h"
#include "api/time_format.h"
#include "core/errors.h"
#include "vm/console_bridge.h"
#include "vm/errors.h"
#include "vm/iso_store.h"
#include "vm/vm_manager.h"

namespace vmshare::api {

namespace {

using nlohmann::json;

vm::VmView callers_vm(AppContext& app, const Caller& caller) {
  auto vm = app.vms->vm_of_user(caller.id);
  if (!vm) throw ApiError(404, "You have no running VM");
  return *vm;
}

int parse_limit(const std::string& text) {
  if (text.empty()) return 100;
  int value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size() || value < 1 || value > 1000)
    throw ApiError(422, "limit must be a number from 1 to 1000");
  return value;
}

}  // namespace

void register_vm_routes(http::Router& router, AppContext& app) {
  router.get("/images", [&app](http::Request&) {
    json out = json::array();
    const auto catalog = app.vms->catalog();  // held: a reload may replace it meanwhile
    for (const auto& p : catalog->profiles())
      out.push_back({{"name", p.name}, {"title", p.title}, {"memory_mb", p.memory_mb}, {"cpus", p.cpus},
                     {"kind", p.kind}, {"description", p.description}});
    return http::json_response(200, out);
  });

  router.post("/run-script", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    auto body = parse_body_object(request);
    auto os_type = require_string(body, "os_type");
    if (os_type == vm::kCustomProfileName) throw ApiError(400, "Use /run-iso to boot an uploaded ISO");
    const auto catalog = app.vms->catalog();  // held: a reload may replace it meanwhile
    const auto* profile = catalog->find(os_type);
    if (!profile) throw vm::UnknownProfile("Unknown os_type '" + os_type + "'");
    if (auto placed = place_launch(app, request, caller.id, profile->memory_mb, std::nullopt)) return *placed;
    const bool was_running = app.vms->vm_of_user(caller.id).has_value();
    auto response = launch_here(app, {caller.id, os_type, "", "", ""}, "VM started");
    // A profile marked "record" records every launch's console (issue 15); a refusal (quota)
    // leaves the VM running unrecorded and says so in the log.
    if (profile->record && !was_running && app.recordings)
      if (auto v = app.vms->vm_of_user(caller.id)) {
        try {
          app.recordings->start(caller.id, v->vmid);
        } catch (const std::exception& e) {
          spdlog::warn("VM {}: its profile asks for a recording, which did not start: {}", v->vmid, e.what());
        }
      }
    return response;
  });

  router.post("/run-iso", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto running = app.vms->vm_of_user(caller.id)) return launch_response({*running, false}, "");
    if (app.cluster && request.cluster_peer.empty()) {  // the ISO's node boots it
      auto node = app.cluster->store().iso_node(caller.id);
      if (!node) throw ApiError(404, "No ISO uploaded; upload one first");
      if (auto placed = place_launch(app, request, caller.id, kDefaultVmMemoryMb, node)) return *placed;
    }
    if (!app.isos->has_iso(caller.id)) throw ApiError(404, "No ISO uploaded; upload one first");
    return launch_here(app, {caller.id, vm::kCustomProfileName, "", app.isos->path_for(caller.id), ""},
                       "VM started from your ISO");
  });

  router.get("/sessions/active", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    const int limit = parse_limit(request.query_value("limit"));
    std::optional<std::int64_t> only_user;
    if (auto text = request.query_value("user_id"); !text.empty()) {
      std::int64_t id = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
      if (ec != std::errc() || p != text.data() + text.size()) throw ApiError(422, "user_id must be a number");
      only_user = id;
    }
    if (!caller.is_admin()) {
      if (only_user && *only_user != caller.id) throw ApiError(403, "You can only list your own sessions");
      only_user = caller.id;
    }
    auto sessions = only_user ? app.sessions->list_user(*only_user) : app.sessions->list_active();
    json out = json::array();
    for (const auto& s : sessions) {
      if (static_cast<int>(out.size()) >= limit) break;
      out.push_back({{"vmid", s.vmid}, {"user_id", s.user_id}, {"os_type", s.os_type}, {"status", s.status},
                     {"started_at", iso8601(s.started_at)}, {"expires_at", iso8601(s.expires_at)}, {"node", s.node}});
    }
    return http::json_response(200, out);
  });

  router.get("/vm/status", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    auto v = callers_vm(app, caller);
    return http::json_response(200, {{"vmid", v.vmid}, {"os_type", v.os_type}, {"status", v.status},
                                     {"started_at", iso8601(v.started_at)},
                                     {"expires_at", iso8601(v.expires_at)}, {"viewers", v.viewers},
                                     {"grace_s", app.config.disconnect_grace_s}});
  });

  router.post("/vm/stop", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    auto v = callers_vm(app, caller);
    app.vms->stop(v.vmid);
    return http::json_response(200, {{"message", "VM stopped"}, {"vmid", v.vmid}});
  });

  router.post("/vm/reset", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    auto v = callers_vm(app, caller);
    app.vms->reset(v.vmid);
    return http::json_response(200, {{"message", "VM reset"}, {"vmid", v.vmid}});
  });

  router.get("/vm/screenshot", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    auto v = callers_vm(app, caller);
    http::Response r;
    r.content_type = "image/png";
    r.body = app.vms->screenshot_png(v.vmid);
    r.header("Cache-Control", "no-store");
    return r;
  });

  // The figures of every open viewer of the caller's VM (an admin may name another with ?vmid=):
  // the console toolbar shows the caller's own newest viewer ("mine").
  router.get("/vm/console_stats", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    std::string vmid = request.query_value("vmid");
    if (vmid.empty()) {
      vmid = callers_vm(app, caller).vmid;
    } else {
      auto v = app.vms->find(vmid);
      if (!v) throw ApiError(404, "No such VM");
      if (v->user_id != caller.id && !caller.is_admin()) throw ApiError(403, "This VM belongs to another user");
    }
    json viewers = json::array();
    for (const auto& info : vm::console_viewers().of_vm(vmid)) viewers.push_back(viewer_json(info, caller.id));
    auto r = http::json_response(200, {{"vmid", vmid}, {"viewers", std::move(viewers)}});
    r.header("Cache-Control", "no-store");
    return r;
  });

  http::Route console;
  console.method = "GET";
  console.pattern = "/ws/<vmid>";
  console.handler = [](http::Request&) { return http::error_response(426, "WebSocket upgrade required"); };
  // Shared with share links' /share/ws (share_api.cpp): one set of caps for every console.
  auto viewer_slots = app.viewer_slots;
  console.websocket = [&app, viewer_slots](http::Request& request) {
    auto caller = authenticate(app, request);
    // Browsers always send Origin on a WebSocket; another site's page must not reach a console
    // with the user's cookie (cross-site WebSocket hijacking).
    require_same_origin(app, request);
    const std::string vmid = request.params.at(0);
    auto v = app.vms->find(vmid);
    if (!v)
      if (auto relayed = forward_console(app, request, vmid, caller.id, caller.is_admin())) return std::move(*relayed);
    if (!v) throw ApiError(404, "No such VM");
    if (v->user_id != caller.id && !caller.is_admin()) throw ApiError(403, "This console belongs to another user");
    auto admission = admit_console_viewer(*viewer_slots, vmid, caller.id);  // 429 before the upgrade

    if (admission.refusal) {
      http::WebSocketDecision refused;
      refused.refuse = std::move(admission.refusal);
      return refused;
    }
    vm::ViewerSpec spec;
    spec.vmid = vmid;
    // ?view_only=1: the caller's own console without input (a watching tab; what share-link
    // viewers get). Only ever fewer rights than the caller has.
    const bool view_only = request.query_value("view_only") == "1";
    spec.mode = view_only ? vm::ViewerMode::view_only : vm::ViewerMode::control;
    spec.address = request.remote_address;
    spec.user_id = caller.id;
    spec.label = v->user_id == caller.id ? "owner" : "admin";
    return open_console_viewer(app, request, std::move(spec), admission.slot);
  };
  router.add(std::move(console));
}

}  // namespace vmshare::api
