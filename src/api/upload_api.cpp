// POST /api/post: the user's ISO, streamed from a multipart/form-data body (field "file") into
// the IsoStore. The body is never held in memory, and nothing is stored unless the whole
// upload arrived, fits the limit and is an ISO 9660 image.
#include <algorithm>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/routes.h"
#include "core/errors.h"
#include "http/multipart_reader.h"
#include "obs/vmshare_metrics.h"
#include "vm/iso_store.h"

namespace vmshare::api {

namespace {

// Room for the multipart framing around the file (boundaries, part headers, small fields).
constexpr std::uint64_t kMultipartOverhead = 64 * 1024;
constexpr std::size_t kReadChunk = 128 * 1024;
// Parses the body and streams the "file" part into the store; returns the stored size. The
// upload object dies with this frame, so any exception leaves no partial file behind.
std::uint64_t receive_iso(AppContext& app, http::Request& request, std::int64_t user_id,
                          const std::string& boundary) {
  std::optional<vm::IsoUpload> upload;
  bool in_file = false;
  http::MultipartReader reader(
      boundary, {
                    [&](const http::MultipartPart& part) {
                      // Other fields are ignored; part.filename is the client's and never used.
                      if (part.name != "file") return;
                      if (upload) throw ApiError(400, "Send a single file per upload");
                      upload.emplace(app.isos->begin_upload(user_id));
                      in_file = true;
                    },
                    [&](std::string_view data) {
                      if (in_file) upload->write(data);
                    },
                    [&] { in_file = false; },
                    nullptr,
                });
  std::vector<char> buf(kReadChunk);
  while (const std::size_t n = request.read_body(buf.data(), buf.size())) reader.feed({buf.data(), n});
  reader.finish();
  if (!upload) throw ApiError(400, "Missing multipart field \"file\"");
  return upload->commit();
}

// Takes the user's upload slot and room for the ISO before any body byte is read; a refusal
// (IsoUploadsBusy 429, IsoStoreFull or IsoStorageFull 507) is answered at once, so it holds a
// worker for no longer than that.
vm::IsoReservation admit_upload(AppContext& app, const http::Request& request, std::int64_t user_id) {
  const auto max = app.config.max_iso_bytes;
  // The file is part of the body, so the body's length bounds it.
  const auto expected = std::min(request.content_length.value_or(max), max);
  return app.isos->reserve(user_id, expected);
}

// Errors become responses (and cap refusals are counted) in api/error_table.cpp; here only
// what the upload adds to them.
http::Response upload_iso(AppContext& app, http::Request& request) {
  const Caller caller = authenticate(app, request);  // 401/403 before any body byte is read
  if (request.content_length && *request.content_length > app.config.max_iso_bytes + kMultipartOverhead)
    throw vm::IsoTooLarge(app.config.max_iso_bytes);
  const std::string* content_type = request.header("Content-Type");
  const auto boundary = content_type ? http::multipart_boundary(*content_type) : std::nullopt;
  if (!boundary) throw ApiError(400, "Expected a multipart/form-data body with a boundary");
  const auto reservation = admit_upload(app, request, caller.id);  // held until the upload ends
  struct InProgress {
    InProgress() { obs::metrics().uploads_in_progress.get().inc(); }
    ~InProgress() { obs::metrics().uploads_in_progress.get().dec(); }
  } in_progress;

  std::uint64_t size = 0;
  try {
    size = receive_iso(app, request, caller.id, *boundary);
  } catch (const http::BodyTooLarge&) {
    throw vm::IsoTooLarge(app.config.max_iso_bytes);  // the same answer, in the ISO's terms
  }
  // Any other refusal mid-body (bad multipart, not an ISO, full store) is answered at once: the
  // HTTP session then reads and drops the rest for a moment (lingering close), so the client
  // still gets the answer instead of a reset, without holding a worker.
  spdlog::info("ISO uploaded by user {}: {} bytes", caller.id, size);
  if (app.cluster) app.cluster->store().set_iso_node(caller.id, app.cluster->self());  // /run-iso boots it here
  return http::json_response(200, {{"message", "ISO uploaded"}, {"user_id", caller.id}, {"size", size}});
}

}  // namespace

void register_upload_routes(http::Router& router, AppContext& app) {
  http::Route route;
  route.method = "POST";
  route.pattern = "/api/post";
  route.body_mode = http::BodyMode::streaming;
  route.max_body_bytes = app.config.max_iso_bytes + kMultipartOverhead;
  route.handler = [&app](http::Request& request) { return upload_iso(app, request); };
  router.add(std::move(route));
  // The store's size is mirrored at scrape time (a directory read), never stale.
  obs::metrics().registry.on_collect([isos = app.isos] {
    const auto usage = isos->usage();
    obs::metrics().stored_bytes.with({"isos"}).set(double(usage.bytes));
    obs::metrics().stored_files.with({"isos"}).set(double(usage.files));
  });
}

}  // namespace vmshare::api
