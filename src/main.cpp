// vmshare: one binary for the API, the pages and the VM consoles, plus the admin commands.
#include <malloc.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <thread>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/bootstrap.h"
#include "api/cluster_routing.h"
#include "api/error_table.h"
#include "api/image_admin.h"
#include "api/observability.h"
#include "api/routes.h"
#include "api/user_admin.h"
#include "cluster/internal_gate.h"
#include "cluster/node_admin.h"
#include "core/config.h"
#include "http/server.h"
#include "vm/catalog.h"
#include "vm/catalog_watcher.h"
#include "vm/console_bridge.h"
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

// Cluster mode: the listener the other nodes use (VMSHARE_INTERNAL_LISTEN, else the host and
// port of VMSHARE_INTERNAL_URL): the same routes, every request signed with the cluster key.
std::unique_ptr<http::Server> make_internal_server(const Config& config, http::ServerOptions options, http::Router& router) {
  if (!config.cluster.enabled()) return nullptr;
  cluster::PeerAddress where;
  try {
    where = cluster::parse_internal_url(config.cluster.internal_listen.empty() ? config.cluster.internal_url
                                                                               : "http://" + config.cluster.internal_listen);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("VMSHARE_INTERNAL_LISTEN: not host:port (") + e.what() + ")");
  }
  options.host = where.host;
  options.port = std::stoi(where.port);
  options.io_threads = 1;
  auto gate = std::make_shared<cluster::InternalGate>(config.cluster.key);
  options.admit = [gate](http::Request& r) { return gate->admit(r, static_cast<std::int64_t>(std::time(nullptr))); };
  auto internal = std::make_unique<http::Server>(options, router);
  internal->listen();
  return internal;
}

// The shared tables (created by the users store's migrations), this node's heartbeat, and what
// the table says it runs; PostgreSQL must answer.
void join_cluster(api::AppContext& app) {
  try {
    app.users->count_users();  // runs the migrations
    app.cluster = std::make_unique<cluster::Cluster>(app.config, *app.vms, *app.sessions);
    app.cluster->start();
  } catch (const ServiceUnavailable& e) {
    throw std::runtime_error(std::string("cluster mode needs PostgreSQL at start-up: ") + e.what());
  }
}

int serve(Config config, const char* argv0) {
  if (config.web_dir.empty()) config.web_dir = default_web_dir(argv0);
  // QEMU and the socket paths need an absolute data folder.
  config.data_dir = std::filesystem::absolute(config.data_dir).lexically_normal().string();
  while (config.data_dir.size() > 1 && config.data_dir.back() == '/') config.data_dir.pop_back();
  setup_logging(config);
  vm::ConsoleBridge::set_relay(config.console_relay == "splice" ? vm::ConsoleBridge::Relay::splice
                                                                : vm::ConsoleBridge::Relay::copy);
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
  if (config.cluster.enabled()) options.admit = [](http::Request& r) { return cluster::refuse_internal_headers(r); };
  http::Server server(options, router);
  server.listen();
  auto internal = make_internal_server(config, options, router);
  app->vms = std::make_unique<vm::VmManager>(config, load_catalog_or_empty(config), *app->sessions,
                                             server.workers().get_executor());
  app->vms->reconcile();
  // `vmshare image add|remove` (or an editor) changes the catalog: picked up within a second.
  auto catalog_watcher = std::make_unique<vm::CatalogWatcher>(
      api::catalog_path(config), [vms = app->vms.get()](vm::Catalog next) { vms->replace_catalog(std::move(next)); });
  app->snapshots = std::make_unique<vm::SnapshotService>(
      config.data_dir, *app->users, *app->vms,
      vm::SnapshotStoreLimits{static_cast<std::int64_t>(config.snapshot_store_max_mb), config.snapshot_store_max_files,
                              config.min_free_disk_mb << 20});
  try {
    app->snapshots->reconcile();
  } catch (const ServiceUnavailable& e) {
    spdlog::warn("snapshots not reconciled: the database is unavailable ({})", e.what());
  }
  app->recordings = std::make_unique<vm::RecordingService>(
      config.data_dir, *app->users, *app->vms,
      vm::RecordingLimits{config.recording_max_mb, static_cast<std::uint32_t>(config.recording_max_s),
                          std::chrono::seconds(config.recording_full_frame_s)});
  try {
    app->recordings->reconcile();
  } catch (const ServiceUnavailable& e) {
    spdlog::warn("recordings not reconciled: the database is unavailable ({})", e.what());
  }
  if (config.cluster.enabled()) join_cluster(*app);
  // Files dropped into VMs on USB sticks (vm/usb_drop_service.h); a stick goes with its VM.
  app->drops = std::make_unique<vm::UsbDropService>(config.data_dir, *app->users, *app->vms,
                                                    vm::DropLimits{config.drop_max_mb << 20});
  app->drops->reconcile();
  app->vms->on_vm_ended([drops = app->drops.get()](const std::string& vmid) { drops->vm_ended(vmid); });
  app->on_logout = [app = app.get()](std::int64_t user_id) { api::end_vm_of_user(*app, user_id); };
  server.on_shutdown([vms = app->vms.get()] { vms->detach_all(); });

  api::register_auth_routes(router, *app);
  api::register_upload_routes(router, *app);
  api::register_drop_routes(router, *app);
  api::register_vm_routes(router, *app);
  api::register_share_routes(router, *app);
  api::register_metrics_routes(router, *app);
  api::register_snapshot_routes(router, *app);
  api::register_recording_routes(router, *app);
  api::register_site_config_routes(router, *app);
  api::register_page_routes(router, *app);
  if (app->cluster) api::register_cluster_routes(router, *app);

  auto observability = api::start_observability(*app, server, VMSHARE_VERSION);

  spdlog::info("vmshare {} listening on http://{}:{} (users: {}, sessions: {})", VMSHARE_VERSION, config.host,
               server.port(), app->users->backend_name(), app->sessions->backend_name());
  std::thread internal_thread;
  if (internal) internal_thread = std::thread([&] { internal->run(); });
  server.run();
  if (internal) {
    internal->shutdown();
    internal_thread.join();
  }
  if (app->cluster) app->cluster->stop();  // its thread uses the VM manager
  observability.reset();  // its threads log: stop them while the logger still exists
  // VM clean-up jobs run on the worker pool and use the VM manager: drop the queued ones and
  // wait for the running ones before the manager goes.
  server.workers().stop();
  server.workers().join();
  app->recordings.reset();  // ends recordings in progress (settled) while the VMs' manager exists
  app->snapshots.reset();
  catalog_watcher.reset();
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

  // Several nodes: the shared nodes table (cluster/node_admin.h).
  auto* node = cli.add_subcommand("node", "the nodes of a cluster (PostgreSQL in DATABASE_URL)");
  node->require_subcommand(1);
  std::string node_id;
  auto* node_list = node->add_subcommand("list", "each node: state, VMs, capacity, last heartbeat");
  auto* node_drain = node->add_subcommand("drain", "take no new VM on this node; its VMs finish");
  auto* node_undrain = node->add_subcommand("undrain", "take new VMs again");
  auto* node_forget = node->add_subcommand("forget", "remove a dead node and its lost VMs");
  for (auto* sub : {node_drain, node_undrain, node_forget}) sub->add_option("node", node_id)->required();

  // `vmshare image ...`: the catalog (api/image_admin.h).
  auto* image = cli.add_subcommand("image", "manage the image catalog (the server picks up changes by itself)");
  image->require_subcommand(1);
  vmshare::vm::ImageAddRequest image_add;
  std::string image_name;
  auto* img_add = image->add_subcommand("add", "add a qcow2/raw disk, an ISO (installs onto a blank disk) or a kernel");
  img_add->add_option("name", image_add.name, "profile name (users' os_type)")->required();
  img_add->add_option("file", image_add.file, "disk image (qcow2, raw) or ISO; copied into the image store");
  img_add->add_option("--title", image_add.title, "shown to users (default: the name)");
  img_add->add_option("--memory", image_add.memory_mb, "MiB of guest memory (64-65536)")->capture_default_str();
  img_add->add_option("--cpus", image_add.cpus, "virtual CPUs (1-64)")->capture_default_str();
  img_add->add_option("--kind", image_add.kind, "kind of guest")->capture_default_str();
  img_add->add_option("--kernel", image_add.kernel, "boot this kernel directly (copied into the store)");
  img_add->add_option("--initrd", image_add.initrd, "its initrd (copied into the store)");
  img_add->add_option("--append", image_add.append, "its command line");
  auto* img_list = image->add_subcommand("list", "list the catalog and how many VMs use each image");
  auto* img_remove = image->add_subcommand("remove", "remove an image no running VM uses, and its stored files");
  img_remove->add_option("name", image_name)->required();

  CLI11_PARSE(cli, argc, argv);

  try {
    auto file_values = config_file.empty() ? std::map<std::string, std::string>{}
                                           : vmshare::read_config_file(config_file);
    auto config = vmshare::parse_config(file_values, vmshare::environment_map());
    if (create->parsed()) return vmshare::api::admin_create_user(config, login, admin, std::cin);
    if (set_role->parsed()) return vmshare::api::admin_set_role(config, login, role);
    if (set_quota->parsed()) return vmshare::api::admin_set_quota(config, login, quota_mb);
    if (unlock->parsed()) return vmshare::api::admin_unlock(config, login, address);
    if (node_list->parsed()) return vmshare::cluster::admin_node_list(config, std::cout);
    if (node_drain->parsed() || node_undrain->parsed())
      return vmshare::cluster::admin_node_drain(config, node_id, node_drain->parsed());
    if (node_forget->parsed()) return vmshare::cluster::admin_node_forget(config, node_id);

    if (img_add->parsed()) return vmshare::api::admin_image_add(config, image_add);
    if (img_list->parsed()) return vmshare::api::admin_image_list(config);
    if (img_remove->parsed()) return vmshare::api::admin_image_remove(config, image_name);
    return serve(config, argv[0]);
  } catch (const vmshare::ConfigError& e) {
    std::cerr << "vmshare: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "vmshare: " << e.what() << "\n";
    return 1;
  }
}
