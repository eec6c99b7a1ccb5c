#include "api/error_table.h"

#include <functional>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/share_link_rules.h"
#include "cluster/errors.h"
#include "core/errors.h"
#include "http/multipart_reader.h"
#include "obs/grafana_proxy.h"
#include "obs/http_client.h"
#include "obs/prometheus_query.h"
#include "obs/telegram.h"
#include "obs/vmshare_metrics.h"
#include "store/redis_connection.h"
#include "store/sqlite_db.h"
#include "store/user_store.h"
#include "vm/errors.h"
#include "vm/iso_store.h"
#include "vm/qmp_connection.h"
#include "vm/recording_service.h"
#include "vm/snapshot_service.h"
#include "vm/usb_drop_errors.h"

namespace vmshare::api {

namespace {

constexpr const char* kInternal = "Internal server error";
constexpr const char* kVmFailed = "The VM operation failed; please try again";
constexpr const char* kUnavailable = "Service temporarily unavailable, please retry shortly";

using Headers = std::vector<std::pair<std::string, std::string>>;

ErrorReply answer(int status, std::string detail, Headers headers = {}) {
  ErrorReply r;
  r.status = status;
  r.detail = std::move(detail);
  r.headers = std::move(headers);
  return r;
}

ErrorReply logged(int status, std::string detail, LogLevel level, std::string log_text) {
  ErrorReply r = answer(status, std::move(detail));
  r.log_level = level;
  r.log_text = std::move(log_text);
  return r;
}

// One row: the reply for errors of type E (and types derived from it).
using Row = std::function<std::optional<ErrorReply>(const std::exception&)>;

template <class E>
Row on(std::function<ErrorReply(const E&)> reply) {
  return [reply = std::move(reply)](const std::exception& e) -> std::optional<ErrorReply> {
    if (const auto* typed = dynamic_cast<const E*>(&e)) return reply(*typed);
    return std::nullopt;
  };
}

// The type's message is a sentence written for users: shown as it is.
template <class E>
Row shown(int status, LogLevel level = LogLevel::none) {
  return on<E>([status, level](const E& e) {
    return logged(status, e.what(), level, level == LogLevel::none ? "" : e.what());
  });
}

// The type's message is for the log only: the client gets `detail`.
template <class E>
Row hidden(int status, std::string detail, LogLevel level, std::string label) {
  return on<E>([=](const E& e) { return logged(status, detail, level, label + ": " + e.what()); });
}

// A cap (config key) refused the request: the type's sentence says which, the log and
// vmshare_cap_refusals_total{cap} count it.
template <class E>
Row cap_refusal(int status, std::string cap, Headers headers = {}) {
  return on<E>([=](const E& e) {
    ErrorReply r = logged(status, e.what(), LogLevel::warn, std::string("refused by the ") + cap + " cap: " + e.what());
    r.headers = headers;
    r.cap = cap;
    return r;
  });
}

std::string megabytes(std::uint64_t bytes) {
  constexpr std::uint64_t kMiB = 1 << 20;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB);
  return fmt::format("{:.2f}", static_cast<double>(bytes) / kMiB);
}

const char* qmp_kind_name(vm::QmpStatus::Kind kind) {
  using Kind = vm::QmpStatus::Kind;
  switch (kind) {
    case Kind::ok: return "ok";
    case Kind::command_error: return "command error";
    case Kind::timeout: return "timeout";
    case Kind::disconnected: return "disconnected";
    case Kind::protocol_error: return "protocol error";
    case Kind::closed: return "closed";
  }
  return "error";
}

// QEMU's own words (desc) can name server files: they go to the log, never to the client.
ErrorReply qmp_reply(const vm::QmpError& e) {
  using Kind = vm::QmpStatus::Kind;
  ErrorReply r = answer(502, "The VM did not accept the command");
  if (e.status.kind == Kind::timeout) {
    r.status = 504;
    r.detail = "The VM did not answer in time; please try again";
  } else if (e.status.kind != Kind::command_error) {
    r.detail = "The VM's monitor is not available; please try again";
  }
  r.log_level = LogLevel::warn;
  r.log_text = fmt::format("QMP {}: {}{}", qmp_kind_name(e.status.kind),
                           e.error_class().empty() ? "" : e.error_class() + ": ", e.desc());
  return r;
}

// Most derived types first: the first row that matches answers.
const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      // A handler's own decision, already in HTTP terms.
      on<ApiError>([](const ApiError& e) { return answer(e.status, e.what(), e.headers); }),

      // http: the request itself.
      on<http::BodyTooLarge>([](const http::BodyTooLarge&) {
        auto r = answer(413, "Request body too large");
        r.close_connection = true;  // the rest of the body is not read
        return r;
      }),
      hidden<http::BodyReadError>(400, "The request body did not arrive in full", LogLevel::info, "body interrupted"),
      on<http::MultipartError>([](const http::MultipartError& e) {
        return answer(400, std::string("Malformed upload: ") + e.what());
      }),

      // cluster: several nodes (their messages are written for users).
      on<cluster::PlacementRefused>([](const cluster::PlacementRefused& e) {
        return answer(503, e.what(), {{"Retry-After", "60"}});
      }),
      on<cluster::PeerUnavailable>([](const cluster::PeerUnavailable& e) {
        return answer(503, e.what(), {{"Retry-After", "5"}});
      }),
      shown<cluster::VmLost>(410),
      // vm: lifecycle refusals (their messages are written for users).
      shown<vm::UnknownProfile>(400),
      on<vm::VmLimitReached>([](const vm::VmLimitReached& e) {
        return answer(503, e.what(), {{"Retry-After", "60"}});
      }),
      shown<vm::VmNotFound>(404),
      shown<vm::SnapshotNotFound>(404),
      shown<vm::SnapshotInUse>(409),
      shown<vm::RecordingNotFound>(404),
      shown<vm::RecordingInProgress>(409),
      shown<vm::VmBusy>(409),
      cap_refusal<vm::SnapshotStoreFull>(507, "snapshot_store"),
      cap_refusal<vm::SnapshotDiskFull>(507, "disk_free"),
      shown<vm::LaunchFailed>(500, LogLevel::warn),
      // vm: ISO uploads.
      on<vm::IsoTooLarge>([](const vm::IsoTooLarge& e) {
        return answer(413, "ISO larger than " + megabytes(e.max_bytes) + " MB");
      }),
      shown<vm::IsoInvalid>(400),
      cap_refusal<vm::IsoUploadsBusy>(429, "uploads_per_user", {{"Retry-After", "10"}}),
      cap_refusal<vm::IsoStoreFull>(507, "iso_store"),
      cap_refusal<vm::IsoStorageFull>(507, "disk_free"),
      hidden<vm::IsoStoreError>(500, "Could not store the ISO", LogLevel::error, "ISO store"),
      // vm: files dropped into a VM on a USB stick.
      cap_refusal<vm::DropTooLarge>(413, "drop_max_mb"),
      shown<vm::DropInvalid>(400),
      shown<vm::DropBusy>(409),
      shown<vm::DropNotFound>(404),
      shown<vm::DropOverQuota>(413),
      cap_refusal<vm::DropStorageFull>(507, "disk_free"),
      hidden<vm::DropStickError>(500, "Could not make or read the USB stick", LogLevel::error, "usb stick"),
      // vm: the monitor, images and processes; their text is for the log.
      on<vm::QmpError>(qmp_reply),
      on<vm::ImageError>([](const vm::ImageError& e) {
        return logged(500, kVmFailed, LogLevel::error,
                      fmt::format("image error: {}{}{}", e.what(), e.detail.empty() ? "" : ": ", e.detail));
      }),
      hidden<vm::ProcessError>(500, kVmFailed, LogLevel::error, "process error"),
      hidden<vm::VmError>(500, kVmFailed, LogLevel::error, "vm error"),  // QemuSpecError, CatalogError, plain VmError

      // store
      on<store::QuotaExceeded>([](const store::QuotaExceeded& e) {
        return answer(413, fmt::format("Snapshot quota exceeded: {} of {} MB used, this snapshot needs about {} MB more",
                                       e.stored, e.capacity, e.requested));
      }),
      on<store::LoginTaken>([](const store::LoginTaken&) { return answer(409, "Login already registered"); }),
      on<store::SnapshotNameTaken>([](const store::SnapshotNameTaken&) {
        return answer(409, "A snapshot with this name already exists; please try again");
      }),
      hidden<ServiceUnavailable>(503, kUnavailable, LogLevel::warn, "service unavailable"),
      hidden<store::RedisIoError>(503, kUnavailable, LogLevel::warn, "session store unreachable"),
      hidden<store::RedisReplyError>(500, kInternal, LogLevel::error, "session store error"),
      hidden<store::SqliteError>(500, kInternal, LogLevel::error, "database error"),

      // share links (issue 15)
      shown<share::BadShareRequest>(422),
      on<share::LinkRefused>([](const share::LinkRefused& e) {
        return answer(share::status_of(e.verdict), e.what());
      }),
      cap_refusal<store::ShareLinkLimitReached>(429, "share_links_per_vm"),

      // obs
      shown<obs::BadQuery>(400),
      shown<obs::BadPanelRequest>(400),
      hidden<obs::HttpError>(502, "An upstream service could not be reached", LogLevel::warn, "upstream"),
      hidden<obs::TelegramError>(502, "The message could not be delivered; please try again later", LogLevel::warn,
                                 "telegram"),

      // Anything else is a bug: say nothing about it to the client.
      hidden<std::exception>(500, kInternal, LogLevel::error, "unhandled error"),
  };
  return rows;
}

bool path_char(char c) { return c != ' ' && c != '\t' && c != '\n' && c != '\'' && c != '"' && c != ',' && c != ')'; }
bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '~';
}

}  // namespace

ErrorReply map_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    for (const auto& row : table()) {
      if (auto reply = row(e)) {
        reply->log_text = without_server_paths(reply->log_text);
        return *reply;
      }
    }
  } catch (...) {
  }
  return logged(500, kInternal, LogLevel::error, "unhandled error of a non-standard type");
}

std::string without_server_paths(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const bool starts_path = text[i] == '/' && (i == 0 || !word_char(text[i - 1]));
    if (!starts_path) {
      out += text[i++];
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && path_char(text[end])) ++end;
    const std::string path = text.substr(i, end - i);
    const auto last = path.rfind('/');
    if (last == 0) out += path;  // "/" or "/name": no folder to hide
    else out += ".../" + path.substr(last + 1);
    i = end;
  }
  return out;
}

http::Response error_response_for(std::exception_ptr error, const http::Request& request) {
  const ErrorReply reply = map_error(error);
  const std::string route = request.route.empty() ? "-" : request.route;
  switch (reply.log_level) {
    case LogLevel::none: break;
    case LogLevel::info: spdlog::info("{} {}: {}", request.method, route, reply.log_text); break;
    case LogLevel::warn: spdlog::warn("{} {}: {}", request.method, route, reply.log_text); break;
    case LogLevel::error: spdlog::error("{} {}: {}", request.method, route, reply.log_text); break;
  }
  auto response = http::error_response(reply.status, reply.detail);
  for (const auto& [name, value] : reply.headers) response.header(name, value);
  response.close_connection = reply.close_connection;
  if (!reply.cap.empty()) obs::metrics().cap_refusals_total.with({reply.cap}).inc();
  return response;
}

}  // namespace vmshare::api
