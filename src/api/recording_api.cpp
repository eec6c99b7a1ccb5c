// Console recordings (issue 15): POST/GET /vm/recording (turn the caller's VM's recording on or
// off, or see it), GET /recordings, GET /recordings/<id>/download, DELETE /recordings/<id>, and
// the replay WebSocket /ws/replay/<id>?from=<ms>&speed=1|2|4 that noVNC plays (web/replay.html).
#include <charconv>

#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/cluster_routing.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/time_format.h"
#include "core/errors.h"
#include "http/file_download.h"
#include "vm/host_files.h"
#include "vm/recording_plan.h"
#include "vm/recording_replay.h"
#include "vm/recording_service.h"

namespace vmshare::api {

namespace {

using nlohmann::json;

json recording_json(const store::RecordingRecord& r) {
  return {{"id", r.id},
          {"vmid", r.vmid},
          {"os_type", r.os_type},
          {"size_mb", r.size_mb},
          {"duration_ms", r.duration_ms},
          {"created", iso8601(r.created_at)},
          {"state", r.state}};
}

std::uint32_t parse_from_ms(const std::string& text) {
  if (text.empty()) return 0;
  std::uint32_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size()) throw ApiError(422, "from must be a number of milliseconds");
  return value;
}

int parse_speed(const std::string& text) {
  if (text.empty()) return 1;
  int value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size() || !vm::valid_replay_speed(value))
    throw ApiError(422, "speed must be 1, 2 or 4");
  return value;
}

json status_json(AppContext& app, const std::string& vmid) {
  auto active = app.recordings->active(vmid);
  if (!active) return {{"recording", false}, {"vmid", vmid}};
  return {{"recording", true}, {"vmid", vmid}, {"id", active->id}, {"bytes", app.recordings->bytes_of(vmid)},
          {"reserved_mb", active->size_mb}, {"started", iso8601(active->created_at)}};
}

http::Response download(AppContext& app, http::Request& request) {
  auto caller = authenticate(app, request);
  auto record = app.recordings->get(caller.id, request.params.at(0));
  if (app.cluster && record.node != app.vms->node_id())
    if (auto remote = forward_to_file_node(app, request, record.node)) return *remote;
  const auto path = app.recordings->path_of(record);
  const auto size = http::file_size(path);
  if (!size) throw ApiError(404, "No such recording");
  // The id is server-made (rec-<hex>), so the plain quoted form is safe.
  return http::file_download_response({path, *size, "attachment; filename=\"" + record.id + ".vmsrec\""},
                                      request.header("Range"));
}

// The replay WebSocket: everything that can fail (auth, ownership, the file) fails before the
// upgrade, as an HTTP status.
http::WebSocketDecision open_replay(AppContext& app, http::Request& request) {
  auto caller = authenticate(app, request);
  require_same_origin(app, request);
  const auto from_ms = parse_from_ms(request.query_value("from"));
  const int speed = parse_speed(request.query_value("speed"));
  auto record = app.recordings->get(caller.id, request.params.at(0));
  // Several nodes: the file is on the node that recorded it; the replay is relayed from there.
  if (app.cluster && record.node != app.vms->node_id())
    if (auto remote = forward_websocket_to_file_node(app, request, record.node)) return std::move(*remote);
  auto file = std::make_shared<vm::UniqueFd>(vm::open_regular(app.recordings->path_of(record), false));
  auto index = std::make_shared<vm::RecordingIndex>(vm::read_recording_index(file->get()));
  http::WebSocketDecision decision;
  if (const auto* protocols = request.header("Sec-WebSocket-Protocol"); protocols && protocols->find("binary") != std::string::npos)
    decision.subprotocol = "binary";
  decision.on_open = [file, index, from_ms, speed](http::WebSocketStream&& ws) {
    vm::RecordingReplay::start(std::move(ws), std::move(*file), std::move(*index), from_ms, speed);
  };
  return decision;
}

}  // namespace

void register_recording_routes(http::Router& router, AppContext& app) {
  router.post("/vm/recording", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    // Several nodes: the recorder runs where the VM does.
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    auto body = parse_body_object(request);
    auto on = body.find("on");
    if (on == body.end() || !on->is_boolean()) throw ApiError(422, "on must be true or false");
    auto vm = app.vms->vm_of_user(caller.id);
    if (!vm) throw ApiError(404, "You have no running VM");
    if (on->get<bool>()) {
      try {
        app.recordings->start(caller.id, vm->vmid);
      } catch (const store::QuotaExceeded& e) {
        throw ApiError(413, "Storage quota exceeded: " + std::to_string(e.stored) + " of " + std::to_string(e.capacity) +
                                " MB used; remove a snapshot or a recording first");
      }
      return http::json_response(200, status_json(app, vm->vmid));
    }
    auto stopped = app.recordings->stop(caller.id, vm->vmid);
    auto out = status_json(app, vm->vmid);
    if (stopped) out["last"] = recording_json(*stopped);
    return http::json_response(200, out);
  });

  router.get("/vm/recording", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    auto vm = app.vms->vm_of_user(caller.id);
    // No VM is a state, not an error: the dashboard polls this and a 404 is a console error there.
    if (!vm) return http::json_response(200, json{{"recording", false}, {"vmid", nullptr}});
    return http::json_response(200, status_json(app, vm->vmid));
  });

  router.get("/recordings", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    json out = json::array();
    for (const auto& r : app.recordings->list(caller.id)) out.push_back(recording_json(r));
    return http::json_response(200, out);
  });

  router.get("/recordings/<id>/download", [&app](http::Request& request) { return download(app, request); });

  router.add(http::Route{"DELETE", "/recordings/<id>", [&app](http::Request& request) {
                           auto caller = authenticate(app, request);
                           if (app.cluster) {
                             auto record = app.recordings->get(caller.id, request.params.at(0));
                             if (record.node != app.vms->node_id())
                               if (auto remote = forward_to_file_node(app, request, record.node)) return *remote;
                           }
                           auto removed = app.recordings->remove(caller.id, request.params.at(0));
                           auto user = app.users->find_by_id(caller.id);
                           return http::json_response(200, {{"status", "ok"},
                                                            {"removed", removed.id},
                                                            {"freed_mb", removed.size_mb},
                                                            {"total_mb", user ? user->snapshot_stored : 0}});
                         },
                         http::BodyMode::buffered, 0, {}});

  http::Route replay;
  replay.method = "GET";
  replay.pattern = "/ws/replay/<id>";
  replay.handler = [](http::Request&) { return http::error_response(426, "WebSocket upgrade required"); };
  replay.websocket = [&app](http::Request& request) { return open_replay(app, request); };
  router.add(std::move(replay));
}

}  // namespace vmshare::api
