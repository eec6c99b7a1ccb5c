// vmshare: one binary for the API, the pages and the VM consoles, plus the admin commands.
#include <malloc.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/bootstrap.h"
#include "api/error_table.h"
#include "api/observability.h"
#include "api/routes.h"
#include "api/user_admin.h"
#include "core/config.h"
#include "http/server.h"
#include "vm/catalog.h"
#include "vm/errors.h"
#include "vm/vm_manager.h"

namespace {

using namespace vmshare;

void setup_logging(const Config& config) {
  // Asynchronous so a slow terminal or pipe never stalls a request thread.
  // The queue is preallocated: 1024 slots (~300 KiB) absorb bursts without holding megabytes.
  spdlog::init_thread_pool(1024, 1);
  auto logger = spdlog::create_async_nb<spdlog::sinks::stdout_sink_mt>("vmshare");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::flush_every(std::chrono::seconds(1));
}

// The web folder: configured, or web/ beside the source tree the binary was built from.
std::string default_web_dir(const char* argv0) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto exe = fs::canonical("/proc/self/exe", ec);
  for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
    if (fs::exists(dir / "web" / "index.html", ec)) return (dir / "web").string();
  return "web";
}

// The catalog file, or none (the API still serves users; /images is empty) with a warning.
vm::Catalog load_catalog_or_empty(const Config& config) {
  const std::string path = config.images.empty() ? config.data_dir + "/images/catalog.json" : config.images;
  if (!std::filesystem::exists(path)) {
    if (!config.images.empty()) throw ConfigError("VMSHARE_IMAGES: no such file " + path);
    spdlog::warn("no image catalog (images/catalog.json in the data folder): no VM can be started; scripts/setup.sh builds one");
    return {};
  }
  try {
    auto catalog = vm::load_catalog(path);
    for (const auto& p : catalog.profiles())
      if (!std::filesystem::exists(p.base_image))
        spdlog::warn("profile {}: its base image is missing; launching it will fail", p.name);
    return catalog;
  } catch (const vm::CatalogError& e) {
    throw ConfigError(std::string("VMSHARE_IMAGES: ") + e.what());
  }
}

int serve(Config config, const char* argv0) {
  if (config.web_dir.empty()) config.web_dir = default_web_dir(argv0);
  // QEMU and the socket paths need an absolute data folder.
  config.data_dir = std::filesystem::absolute(config.data_dir).lexically_normal().string();
  while (config.data_dir.size() > 1 && config.data_dir.back() == '/') config.data_dir.pop_back();
  setup_logging(config);
  auto app = api::make_app_context(config);

  http::Router router;

  http::ServerOptions options;
  options.host = config.host;
  options.port = config.port;
  options.io_threads = config.io_threads;
  options.worker_threads = config.worker_threads;
  options.max_body_bytes = config.max_body_bytes;
  options.max_header_bytes = config.max_header_bytes;
  options.read_timeout = std::chrono::seconds(config.read_timeout_s);
  options.trusted_proxies = config.trusted_proxies;
  options.map_error = api::error_response_for;  // every route's errors, from one table
  http::Server server(options, router);
  server.listen();
  app->vms = std::make_unique<vm::VmManager>(config, load_catalog_or_empty(config), *app->sessions,
                                             server.workers().get_executor());
  app->vms->reconcile();
  app->snapshots = std::make_unique<vm::SnapshotService>(
      config.data_dir, *app->users, *app->vms,
      vm::SnapshotStoreLimits{static_cast<std::int64_t>(config.snapshot_store_max_mb), config.snapshot_store_max_files,
                              config.min_free_disk_mb << 20});
  try {
    app->snapshots->reconcile();
  } catch (const ServiceUnavailable& e) {
    spdlog::warn("snapshots not reconciled: the database is unavailable ({})", e.what());
  }
  app->on_logout = [vms = app->vms.get()](std::int64_t user_id) {
    if (auto v = vms->vm_of_user(user_id)) vms->terminate(v->vmid, vm::ExitReason::logout);
  };
  server.on_shutdown([vms = app->vms.get()] { vms->detach_all(); });

  api::register_auth_routes(router, *app);
  api::register_upload_routes(router, *app);
  api::register_vm_routes(router, *app);
  api::register_share_routes(router, *app);
  api::register_metrics_routes(router, *app);
  api::register_snapshot_routes(router, *app);
  api::register_site_config_routes(router, *app);
  api::register_page_routes(router, *app);

  auto observability = api::start_observability(*app, server, VMSHARE_VERSION);

  spdlog::info("vmshare {} listening on http://{}:{} (users: {}, sessions: {})", VMSHARE_VERSION, config.host,
               server.port(), app->users->backend_name(), app->sessions->backend_name());
  server.run();
  observability.reset();  // its threads log: stop them while the logger still exists
  // VM clean-up jobs run on the worker pool and use the VM manager: drop the queued ones and
  // wait for the running ones before the manager goes.
  server.workers().stop();
  server.workers().join();
  app->snapshots.reset();
  app->vms.reset();
  spdlog::info("vmshare stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc makes an arena per thread that allocates; with 16 workers that idle memory adds up.
  // Two arenas keep contention low on the hot path and the footprint small.
  mallopt(M_ARENA_MAX, 2);
  CLI::App cli{"vmshare: virtual machines in the browser"};
  cli.set_version_flag("--version", std::string("vmshare ") + VMSHARE_VERSION);
  std::string config_file;
  cli.add_option("--config", config_file, "KEY=VALUE file with the same keys as the environment")
      ->check(CLI::ExistingFile);
  cli.footer("Configuration keys (environment or --config file):\n  " + [] {
    std::string keys;
    for (const auto& k : vmshare::config_keys()) keys += k + " ";
    return keys;
  }());

  auto* user = cli.add_subcommand("user", "manage users");
  user->require_subcommand(1);
  std::string login, role;
  long long quota_mb = 0;
  bool admin = false;
  auto* create = user->add_subcommand("create", "create a user; the password is read from stdin");
  create->add_option("login", login)->required();
  create->add_flag("--admin", admin, "give the user the admin role");
  auto* set_role = user->add_subcommand("set-role", "change a user's role");
  set_role->add_option("login", login)->required();
  set_role->add_option("role", role)->required()->check(CLI::IsMember({"user", "admin"}));
  auto* set_quota = user->add_subcommand("set-quota", "change a user's snapshot capacity in MB");
  set_quota->add_option("login", login)->required();
  set_quota->add_option("mb", quota_mb)->required()->check(CLI::Range(0LL, 100000000LL));

  std::string address;
  auto* unlock = user->add_subcommand("unlock", "clear a login's sign-in lock (and, with --address, an address's)");
  unlock->add_option("login", login)->required();
  unlock->add_option("--address", address, "also clear this client address's failed sign-ins");

  CLI11_PARSE(cli, argc, argv);

  try {
    auto file_values = config_file.empty() ? std::map<std::string, std::string>{}
                                           : vmshare::read_config_file(config_file);
    auto config = vmshare::parse_config(file_values, vmshare::environment_map());
    if (create->parsed()) return vmshare::api::admin_create_user(config, login, admin, std::cin);
    if (set_role->parsed()) return vmshare::api::admin_set_role(config, login, role);
    if (set_quota->parsed()) return vmshare::api::admin_set_quota(config, login, quota_mb);
    if (unlock->parsed()) return vmshare::api::admin_unlock(config, login, address);
    return serve(config, argv[0]);
  } catch (const vmshare::ConfigError& e) {
    std::cerr << "vmshare: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "vmshare: " << e.what() << "\n";
    return 1;
  }
}
