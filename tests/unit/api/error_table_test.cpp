// The one error table: every typed error's status and detail, nothing of QEMU's words or the
// server's paths in what a client sees (nor paths in the log), and the server applying it to
// plain routes and WebSocket upgrades alike.
#include "api/error_table.h"

#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/errors.h"
#include "http/multipart_reader.h"
#include "http/server.h"
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
#include "vm/snapshot_service.h"

using namespace vmshare;
using api::LogLevel;

namespace {

constexpr const char* kVmFailed = "The VM operation failed; please try again";
constexpr const char* kInternal = "Internal server error";
constexpr const char* kUnavailable = "Service temporarily unavailable, please retry shortly";
// What the texts below say about the server, none of which may reach a client.
constexpr const char* kSecretDesc = "Could not open '/srv/vmshare/vms/abc123/screen.png': Permission denied";

vm::QmpError qmp(vm::QmpStatus::Kind kind, std::string error_class, std::string desc) {
  vm::QmpStatus s;
  s.kind = kind;
  s.error_class = std::move(error_class);
  s.desc = std::move(desc);
  return vm::QmpError(s);
}

struct Row {
  const char* name;
  std::exception_ptr error;
  int status;
  std::string detail;
  LogLevel log = LogLevel::none;
  std::string cap = "";  // counted in vmshare_cap_refusals_total{cap}
};

template <class E>
std::exception_ptr error(E e) {
  return std::make_exception_ptr(std::move(e));
}

std::vector<Row> table() {
  using Kind = vm::QmpStatus::Kind;
  return {
      {"ApiError", error(ApiError(418, "I am a teapot")), 418, "I am a teapot"},
      {"ServiceUnavailable", error(ServiceUnavailable("sqlite: cannot open /srv/vmshare/vmshare.db: locked")), 503,
       kUnavailable, LogLevel::warn},
      {"BodyTooLarge", error(http::BodyTooLarge()), 413, "Request body too large"},
      {"BodyReadError", error(http::BodyReadError("upload too slow: timed out")), 400,
       "The request body did not arrive in full", LogLevel::info},
      {"MultipartError", error(http::MultipartError("missing boundary")), 400, "Malformed upload: missing boundary"},

      {"UnknownProfile", error(vm::UnknownProfile("Unknown os_type 'x'")), 400, "Unknown os_type 'x'"},
      {"VmLimitReached", error(vm::VmLimitReached("The host is at its VM limit; please try again later")), 503,
       "The host is at its VM limit; please try again later"},
      {"VmNotFound", error(vm::VmNotFound("No such VM")), 404, "No such VM"},
      {"SnapshotNotFound", error(vm::SnapshotNotFound("No such snapshot")), 404, "No such snapshot"},
      {"SnapshotInUse", error(vm::SnapshotInUse("A running VM was booted from this snapshot")), 409,
       "A running VM was booted from this snapshot"},
      {"VmBusy", error(vm::VmBusy("The VM is already stopping")), 409, "The VM is already stopping"},
      {"LaunchFailed", error(vm::LaunchFailed("QEMU did not open its monitor in time")), 500,
       "QEMU did not open its monitor in time", LogLevel::warn},
      {"IsoTooLarge (whole MB)", error(vm::IsoTooLarge(100 << 20)), 413, "ISO larger than 100 MB"},
      {"IsoTooLarge (fraction)", error(vm::IsoTooLarge(150000)), 413, "ISO larger than 0.14 MB"},
      {"IsoInvalid", error(vm::IsoInvalid()), 400, "The file is not an ISO 9660 image"},
      {"IsoStorageFull", error(vm::IsoStorageFull()), 507, "Not enough disk space on the server to store the ISO",
       LogLevel::warn, "disk_free"},
      {"IsoUploadsBusy", error(vm::IsoUploadsBusy(1)), 429,
       "You already have an ISO upload in progress; wait for it to finish", LogLevel::warn, "uploads_per_user"},
      {"IsoStoreFull", error(vm::IsoStoreFull("The server's ISO storage is full; try again later")), 507,
       "The server's ISO storage is full; try again later", LogLevel::warn, "iso_store"},
      {"SnapshotStoreFull", error(vm::SnapshotStoreFull("The server's snapshot storage is full")), 507,
       "The server's snapshot storage is full", LogLevel::warn, "snapshot_store"},
      {"SnapshotDiskFull", error(vm::SnapshotDiskFull()), 507,
       "Not enough disk space on the server for this snapshot; try again later", LogLevel::warn, "disk_free"},
      {"IsoStoreError", error(vm::IsoStoreError("cannot create the upload file: Permission denied")), 500,
       "Could not store the ISO", LogLevel::error},
      {"QmpError command", error(qmp(Kind::command_error, "GenericError", kSecretDesc)), 502,
       "The VM did not accept the command", LogLevel::warn},
      {"QmpError timeout", error(qmp(Kind::timeout, "", "the VM monitor did not answer in time")), 504,
       "The VM did not answer in time; please try again", LogLevel::warn},
      {"QmpError disconnected", error(qmp(Kind::disconnected, "", "the VM monitor connection closed")), 502,
       "The VM's monitor is not available; please try again", LogLevel::warn},
      {"QmpError protocol", error(qmp(Kind::protocol_error, "", "the VM monitor sent a malformed message")), 502,
       "The VM's monitor is not available; please try again", LogLevel::warn},
      {"QmpError closed", error(qmp(Kind::closed, "", "closed")), 502,
       "The VM's monitor is not available; please try again", LogLevel::warn},
      {"ImageError", error(vm::ImageError("qemu-img convert failed", "qemu-img: /srv/vmshare/vms/abc/disk.qcow2: busy")),
       500, kVmFailed, LogLevel::error},
      {"ProcessError", error(vm::ProcessError("cannot start /usr/bin/qemu-system-x86_64: No such file")), 500, kVmFailed,
       LogLevel::error},
      {"QemuSpecError", error(vm::QemuSpecError("qemu spec: disk_path must be absolute")), 500, kVmFailed,
       LogLevel::error},
      {"CatalogError", error(vm::CatalogError("catalog: cannot read /etc/vmshare/images.json")), 500, kVmFailed,
       LogLevel::error},
      {"plain VmError", error(vm::VmError("The VM did not produce a screenshot")), 500, kVmFailed, LogLevel::error},

      {"QuotaExceeded", error(store::QuotaExceeded(250, 300, 80)), 413,
       "Snapshot quota exceeded: 250 of 300 MB used, this snapshot needs about 80 MB more"},
      {"LoginTaken", error(store::LoginTaken()), 409, "Login already registered"},
      {"SnapshotNameTaken", error(store::SnapshotNameTaken()), 409,
       "A snapshot with this name already exists; please try again"},
      {"RedisIoError", error(store::RedisIoError("connection reset", true)), 503, kUnavailable, LogLevel::warn},
      {"RedisReplyError", error(store::RedisReplyError("WRONGTYPE")), 500, kInternal, LogLevel::error},
      {"SqliteError", error(store::SqliteError(19, "constraint failed")), 500, kInternal, LogLevel::error},

      {"BadQuery", error(obs::BadQuery("query is required")), 400, "query is required"},
      {"BadPanelRequest", error(obs::BadPanelRequest("panelId must be a number")), 400, "panelId must be a number"},
      {"HttpError", error(obs::HttpError("timed out")), 502, "An upstream service could not be reached",
       LogLevel::warn},
      {"TelegramError", error(obs::TelegramError("403 Forbidden")), 502,
       "The message could not be delivered; please try again later", LogLevel::warn},

      {"ConfigError", error(ConfigError("PORT: bad")), 500, kInternal, LogLevel::error},
      {"runtime_error", error(std::runtime_error("fopen /etc/vmshare/secret failed")), 500, kInternal,
       LogLevel::error},
      {"logic_error", error(std::logic_error("oops")), 500, kInternal, LogLevel::error},
      {"not a std::exception", std::make_exception_ptr(42), 500, kInternal, LogLevel::error},
  };
}

TEST(ErrorTable, EveryTypeHasItsStatusAndDetail) {
  for (const auto& row : table()) {
    SCOPED_TRACE(row.name);
    const auto reply = api::map_error(row.error);
    EXPECT_EQ(reply.status, row.status);
    EXPECT_EQ(reply.detail, row.detail);
    EXPECT_EQ(static_cast<int>(reply.log_level), static_cast<int>(row.log));
    EXPECT_EQ(reply.log_text.empty(), row.log == LogLevel::none);
    EXPECT_EQ(reply.cap, row.cap);
  }
}

TEST(ErrorTable, NoServerPathOrQemuTextInAnyDetailNorPathInAnyLog) {
  for (const auto& row : table()) {
    SCOPED_TRACE(row.name);
    const auto reply = api::map_error(row.error);
    for (const char* secret : {"/srv", "/usr", "/etc", "/var", "GenericError", "Permission denied", "qemu-img:",
                               "screen.png", "No such file", "WRONGTYPE", "constraint"})
      EXPECT_EQ(reply.detail.find(secret), std::string::npos) << secret;
    for (const char* dir : {"/srv", "/usr", "/etc", "/var"}) EXPECT_EQ(reply.log_text.find(dir), std::string::npos) << dir;
    EXPECT_FALSE(reply.detail.empty());
  }
}

TEST(ErrorTable, TheLogKeepsWhatTheClientIsNotShown) {
  using Kind = vm::QmpStatus::Kind;
  const auto q = api::map_error(error(qmp(Kind::command_error, "GenericError", kSecretDesc)));
  EXPECT_EQ(q.log_text, "QMP command error: GenericError: Could not open '.../screen.png': Permission denied");
  const auto image = api::map_error(error(vm::ImageError("qemu-img convert failed", "qemu-img: /srv/a/disk.qcow2: busy")));
  EXPECT_EQ(image.log_text, "image error: qemu-img convert failed: qemu-img: .../disk.qcow2: busy");
  const auto plain = api::map_error(error(vm::VmError("The VM did not produce a screenshot")));
  EXPECT_EQ(plain.log_text, "vm error: The VM did not produce a screenshot");
}

TEST(ErrorTable, HeadersAndConnection) {
  const auto limit = api::map_error(error(vm::VmLimitReached("full")));
  ASSERT_EQ(limit.headers.size(), 1u);
  EXPECT_EQ(limit.headers[0], (std::pair<std::string, std::string>{"Retry-After", "60"}));
  const auto api_error = api::map_error(error(ApiError(429, "slow down", {{"Retry-After", "7"}})));
  EXPECT_EQ(api_error.headers, (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "7"}}));
  const auto busy = api::map_error(error(vm::IsoUploadsBusy(1)));
  EXPECT_EQ(busy.headers, (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "10"}}));
  EXPECT_TRUE(api::map_error(error(http::BodyTooLarge())).close_connection);
  EXPECT_FALSE(api::map_error(error(vm::VmNotFound("No such VM"))).close_connection);
}

TEST(ErrorTable, ResponseCarriesTheReply) {
  http::Request request;
  request.method = "POST";
  request.route = "/vm/stop";
  const auto r = api::error_response_for(error(vm::VmLimitReached("The host is at its VM limit")), request);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(nlohmann::json::parse(r.body), (nlohmann::json{{"detail", "The host is at its VM limit"}}));
  EXPECT_EQ(r.content_type, "application/json");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_TRUE(api::error_response_for(error(http::BodyTooLarge()), request).close_connection);
}

TEST(ErrorTable, CapRefusalsAreCounted) {
  http::Request request;
  request.method = "POST";
  request.route = "/api/post";
  auto& counter = obs::metrics().cap_refusals_total.with({"uploads_per_user"});
  const double before = counter.value();
  EXPECT_EQ(api::error_response_for(error(vm::IsoUploadsBusy(1)), request).status, 429);
  EXPECT_EQ(counter.value(), before + 1);
  api::error_response_for(error(vm::VmNotFound("No such VM")), request);
  EXPECT_EQ(counter.value(), before + 1);
}

TEST(ErrorTable, PathsAreCutToFileNames) {
  EXPECT_EQ(api::without_server_paths("Could not open '/srv/a/b/disk.qcow2': x"), "Could not open '.../disk.qcow2': x");
  EXPECT_EQ(api::without_server_paths("/srv/a/x.iso"), ".../x.iso");
  EXPECT_EQ(api::without_server_paths("files /tmp/a/x, /tmp/y and (/run/z)"), "files .../x, .../y and (.../z)");
  EXPECT_EQ(api::without_server_paths("a/b stays, and / too"), "a/b stays, and / too");
  EXPECT_EQ(api::without_server_paths("no paths"), "no paths");
  EXPECT_EQ(api::without_server_paths(""), "");
}

// The server applies the hook to plain routes and to WebSocket upgrades.
class ServerWithTable : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.post("/stop", [](http::Request&) -> http::Response { throw vm::VmBusy("The VM is already stopping"); });
    router_.get("/shot", [](http::Request&) -> http::Response {
      throw qmp(vm::QmpStatus::Kind::command_error, "GenericError", kSecretDesc);
    });
    http::Route ws;
    ws.method = "GET";
    ws.pattern = "/ws/<vmid>";
    ws.handler = [](http::Request&) { return http::error_response(426, "WebSocket upgrade required"); };
    ws.websocket = [](http::Request&) -> http::WebSocketDecision { throw vm::VmNotFound("No such VM"); };
    router_.add(std::move(ws));
    http::ServerOptions options;
    options.port = 0;
    options.worker_threads = 2;
    options.map_error = api::error_response_for;
    server_ = std::make_unique<http::Server>(options, router_);
    server_->listen();
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->shutdown(std::chrono::seconds(1));
    thread_.join();
  }

  // One request on its own connection; returns the raw response.
  std::string exchange(const std::string& request) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server_->port())});
    boost::asio::write(socket, boost::asio::buffer(request));
    std::string out;
    boost::system::error_code ec;
    boost::asio::read(socket, boost::asio::dynamic_buffer(out), ec);  // until the server closes
    return out;
  }

  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

TEST_F(ServerWithTable, PlainRoute) {
  const auto res = exchange("POST /stop HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(res.rfind("HTTP/1.1 409", 0), 0u) << res;
  EXPECT_NE(res.find(R"({"detail":"The VM is already stopping"})"), std::string::npos) << res;
}

TEST_F(ServerWithTable, QemuTextStaysInTheServer) {
  const auto res = exchange("GET /shot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(res.rfind("HTTP/1.1 502", 0), 0u) << res;
  EXPECT_NE(res.find("The VM did not accept the command"), std::string::npos) << res;
  EXPECT_EQ(res.find("/srv"), std::string::npos) << res;
  EXPECT_EQ(res.find("Permission"), std::string::npos) << res;
}

TEST_F(ServerWithTable, WebSocketUpgrade) {
  const auto res = exchange(
      "GET /ws/abc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_EQ(res.rfind("HTTP/1.1 404", 0), 0u) << res;
  EXPECT_NE(res.find(R"({"detail":"No such VM"})"), std::string::npos) << res;
}

}  // namespace
