// POST /snapshot, /run_snapshot, /remove_snapshot; GET /get_user_snapshots,
// /snapshots/<name>/download.
#include "api/auth_guard.h"
#include "api/cluster_routing.h"
#include "api/json_body.h"
#include "api/launch_response.h"
#include "api/routes.h"
#include "api/time_format.h"
#include "core/errors.h"
#include "http/file_download.h"
#include "obs/vmshare_metrics.h"
#include "vm/snapshot_service.h"

namespace vmshare::api {

using nlohmann::json;

void register_snapshot_routes(http::Router& router, AppContext& app) {
  router.post("/snapshot", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;  // the VM's node writes it
    auto body = parse_body_object(request);
    auto os_type = optional_string(body, "os_type");
    auto vmid = optional_string(body, "vmid");
    auto vm = app.vms->vm_of_user(caller.id);
    if (!vm || (vmid && !vmid->empty() && *vmid != vm->vmid)) throw ApiError(404, "You have no running VM to snapshot");
    if (os_type && !os_type->empty() && *os_type != vm->os_type)
      throw ApiError(400, "os_type does not match your running VM (" + vm->os_type + ")");
    // Over quota 413, store or disk full 507 (api/error_table.cpp).
    auto created = app.snapshots->create(caller.id, vm->vmid);
    return http::json_response(200, {{"status", "ok"},
                                     {"snapshot", created.record.name},
                                     {"size_mb", created.record.size_mb},
                                     {"charged_from", created.charged_from},
                                     {"total_mb", created.total_mb},
                                     {"cap_mb", created.cap_mb}});
  });

  router.post("/run_snapshot", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    auto body = parse_body_object(request);
    auto name = require_string(body, "snapshot");
    auto record = app.snapshots->get(caller.id, name);
    if (auto running = app.vms->vm_of_user(caller.id)) return launch_response({*running, false}, "");
    // The node holding the snapshot's file boots it.
    const auto catalog = app.vms->catalog();  // held: a reload may replace it meanwhile
    const auto* profile = catalog->find(record.os_type);
    if (auto placed = place_launch(app, request, caller.id, profile ? profile->memory_mb : kDefaultVmMemoryMb, record.node))
      return *placed;
    // Held until the launch returns: a /remove_snapshot meanwhile gets 409, one before it wins (404 here).
    auto claim = app.snapshots->claim_boot(caller.id, name);
    vm::LaunchSpec spec;
    spec.user_id = caller.id;
    spec.os_type = record.os_type;
    spec.base_image = app.snapshots->path_of(record);
    spec.source_snapshot = record.name;
    return launch_here(app, spec, "VM started from snapshot");
  });

  router.get("/get_user_snapshots", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    json out = json::array();
    for (const auto& r : app.snapshots->list(caller.id))
      out.push_back({{"name", r.name}, {"os_type", r.os_type}, {"vmid", r.vmid}, {"size_mb", r.size_mb},
                     {"modified", iso8601(r.created_at)}});
    return http::json_response(200, out);
  });

  router.post("/remove_snapshot", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    auto body = parse_body_object(request);
    const auto name = require_string(body, "snapshot");
    if (app.cluster)
      if (auto remote = forward_to_file_node(app, request, app.snapshots->get(caller.id, name).node)) return *remote;
    auto removed = app.snapshots->remove(caller.id, name);
    return http::json_response(200, {{"status", "ok"},
                                     {"removed", true},
                                     {"snapshot", removed.record.name},
                                     {"freed_mb", removed.record.size_mb},
                                     {"total_mb", removed.total_mb}});
  });

  // This node's snapshot store, mirrored at scrape time.
  obs::metrics().registry.on_collect([&app] {
    if (!app.users || !app.vms) return;
    try {
      const auto usage = app.users->node_snapshot_usage(app.vms->node_id());
      obs::metrics().stored_bytes.with({"snapshots"}).set(double(usage.mb) * (1 << 20));
      obs::metrics().stored_files.with({"snapshots"}).set(double(usage.files));
    } catch (const std::exception&) {
      // Database unavailable: keep the last values; vmshare_db_errors_total says why.
    }
  });

  router.get("/snapshots/<name>/download", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    auto record = app.snapshots->get(caller.id, request.params.at(0));
    if (auto remote = forward_to_file_node(app, request, record.node)) return *remote;  // streamed from its node
    const auto path = app.snapshots->path_of(record);
    const auto size = http::file_size(path);
    if (!size) throw ApiError(404, "No such snapshot");
    // Names are server-made (<user_id>__<os_type>__<vmid>.qcow2), so the plain quoted form is safe.
    return http::file_download_response({path, *size, "attachment; filename=\"" + record.name + "\""},
                                        request.header("Range"));
  });
}

}  // namespace vmshare::api
