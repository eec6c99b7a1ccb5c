// Files dropped into the caller's VM as a USB stick, and back (vm/usb_drop_service.h):
// POST /vm/drop (multipart, one or more parts named "files"), POST /vm/drop/eject, GET /vm/drop,
// GET /vm/drop/files, GET /vm/drop/files/<name>. Owner only: everything is found through the
// caller's own VM. The body is streamed to disk, never held in memory.
// Several nodes: every route is answered by the node running the caller's VM; a drop's body is
// streamed there through the internal channel (api/cluster_routing.h), never held here.
#include <algorithm>
#include <vector>

#include "api/auth_guard.h"
#include "api/cluster_routing.h"
#include "api/routes.h"
#include "cluster/errors.h"
#include "core/errors.h"
#include "http/file_download.h"
#include "http/multipart_reader.h"
#include "vm/usb_drop_service.h"

namespace vmshare::api {

namespace {

using nlohmann::json;

constexpr std::uint64_t kMultipartOverhead = 64 * 1024;
constexpr std::size_t kReadChunk = 128 * 1024;
// Where the tiny guest mounts the stick (scripts/build-tiny-image.sh); other guests show a USB
// drive labelled VMSHARE (docs/operations.md).
constexpr const char* kTinyMountPoint = "/mnt/usb";

json files_json(const std::vector<vm::DropFile>& files) {
  json out = json::array();
  for (const auto& f : files) out.push_back({{"name", f.name}, {"size", f.size}});
  return out;
}

// Parts named "files" (or "file") become files on the stick; other fields are ignored.
void receive_files(http::Request& request, const std::string& boundary, vm::UsbDropService::Upload& upload) {
  bool in_file = false;
  http::MultipartReader reader(boundary, {
                                             [&](const http::MultipartPart& part) {
                                               in_file = (part.name == "files" || part.name == "file") && part.filename;
                                               if (in_file) upload.begin_file(*part.filename);
                                             },
                                             [&](std::string_view data) {
                                               if (in_file) upload.write(data);
                                             },
                                             [&] {
                                               if (in_file) upload.end_file();
                                               in_file = false;
                                             },
                                             nullptr,
                                         });
  std::vector<char> buf(kReadChunk);
  while (const std::size_t n = request.read_body(buf.data(), buf.size())) reader.feed({buf.data(), n});
  reader.finish();
}

http::Response drop_files(AppContext& app, http::Request& request) {
  const Caller caller = authenticate(app, request);
  const auto max = app.drops->limits().max_stick_bytes;
  if (request.content_length && *request.content_length > max + kMultipartOverhead) throw vm::DropTooLarge(max);
  const std::string* content_type = request.header("Content-Type");
  const auto boundary = content_type ? http::multipart_boundary(*content_type) : std::nullopt;
  if (!boundary) throw ApiError(400, "Expected a multipart/form-data body with a boundary");
  if (auto remote = forward_upload_to_vm_owner(app, request, caller.id)) return *remote;
  auto upload = app.drops->begin(caller.id, request.content_length);  // 404/409/413 before the body
  try {
    receive_files(request, *boundary, upload);
  } catch (const http::BodyTooLarge&) {
    throw vm::DropTooLarge(max);
  }  // other refusals are answered at once; the session's lingering close takes the rest of the body
  const auto vm = app.vms->vm_of_user(caller.id);
  const auto plugged = upload.commit();
  const bool tiny = vm && vm->os_type == "tiny";
  return http::json_response(200, {{"message", "Files dropped into the VM on a USB stick"},
                                   {"files", files_json(plugged.files)},
                                   {"label", "VMSHARE"},
                                   {"mounted_as", tiny ? json(kTinyMountPoint) : json(nullptr)},
                                   {"stick_mb", plugged.charged_mb}});
}

}  // namespace

void register_drop_routes(http::Router& router, AppContext& app) {
  http::Route drop;
  drop.method = "POST";
  drop.pattern = "/vm/drop";
  drop.body_mode = http::BodyMode::streaming;
  drop.max_body_bytes = app.drops->limits().max_stick_bytes + kMultipartOverhead;
  drop.handler = [&app](http::Request& request) { return drop_files(app, request); };
  router.add(std::move(drop));

  router.post("/vm/drop/eject", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    const auto ejected = app.drops->eject(caller.id);
    return http::json_response(200, {{"message", "USB stick ejected"},
                                     {"files", files_json(ejected.files)},
                                     {"skipped", ejected.skipped}});
  });

  router.get("/vm/drop", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    // Never 404: a page shown to someone whose VM it is not asks too (and then hides the button).
    // A VM lost with its node is no stick either: answered here (no VM), not 410.
    try {
      if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    } catch (const cluster::VmLost&) {
    }
    const auto s = app.drops->status(caller.id);
    return http::json_response(200, {{"vmid", s.vmid.empty() ? json(nullptr) : json(s.vmid)},
                                     {"state", s.state},
                                     {"dropped", files_json(s.dropped)},
                                     {"returned", files_json(s.returned)},
                                     {"max_mb", app.drops->limits().max_stick_bytes >> 20}});
  });

  router.get("/vm/drop/files", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    return http::json_response(200, files_json(app.drops->returned_files(caller.id)));
  });

  router.get("/vm/drop/files/<name>", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    if (auto remote = forward_to_vm_owner(app, request, caller.id)) return *remote;
    const auto& name = request.params.at(0);
    const auto files = app.drops->returned_files(caller.id);
    const auto it = std::find_if(files.begin(), files.end(), [&](const vm::DropFile& f) { return f.name == name; });
    if (it == files.end()) throw vm::DropNotFound("No such file");
    return http::file_download_response(
        {app.drops->returned_file_path(caller.id, it->name), it->size, http::attachment_disposition(it->name)},
        request.header("Range"));
  });
}

}  // namespace vmshare::api
