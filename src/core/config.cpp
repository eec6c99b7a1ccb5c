#include "core/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include <fmt/format.h>

extern char** environ;

namespace vmshare {
namespace {

using Setter = std::function<void(Config&, const std::string&)>;

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

template <typename T>
T parse_number(const std::string& key, const std::string& value, T min, T max) {
  T out{};
  const auto* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (ec != std::errc() || ptr != end || value.empty())
    throw ConfigError(fmt::format("{}: '{}' is not a number", key, value));
  if (out < min || out > max)
    throw ConfigError(fmt::format("{}: {} is out of range [{}, {}]", key, value, min, max));
  return out;
}

double parse_double(const std::string& key, const std::string& value, double min, double max) {
  std::size_t used = 0;
  double out = 0;
  try {
    out = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty())
    throw ConfigError(fmt::format("{}: '{}' is not a number", key, value));
  if (out < min || out > max)
    throw ConfigError(fmt::format("{}: {} is out of range [{}, {}]", key, value, min, max));
  return out;
}

bool parse_bool(const std::string& key, const std::string& value) {
  static const std::set<std::string> yes{"1", "true", "yes", "on"}, no{"0", "false", "no", "off"};
  std::string lower;
  for (char c : value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (yes.count(lower)) return true;
  if (no.count(lower)) return false;
  throw ConfigError(fmt::format("{}: '{}' is not a boolean (true/false)", key, value));
}

std::vector<std::string> split_list(const std::string& value, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto end = value.find(sep, start);
    if (end == std::string::npos) end = value.size();
    auto item = trim(value.substr(start, end - start));
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

void require_url(const std::string& key, const std::string& value,
                 std::initializer_list<const char*> schemes) {
  if (value.empty()) return;
  for (const char* scheme : schemes)
    if (value.rfind(scheme, 0) == 0 && value.size() > std::string(scheme).size()) return;
  std::string expected;
  for (const char* scheme : schemes) expected += (expected.empty() ? "" : " or ") + std::string(scheme);
  throw ConfigError(fmt::format("{}: must start with {}", key, expected));
}

// "/:10,/var:50" -> mount/threshold pairs.
std::vector<DiskThreshold> parse_disk_thresholds(const std::string& key, const std::string& value) {
  std::vector<DiskThreshold> out;
  for (const auto& item : split_list(value, ',')) {
    const auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || item[0] != '/')
      throw ConfigError(fmt::format("{}: '{}' is not MOUNT:GIB (e.g. /:10)", key, item));
    out.push_back({item.substr(0, colon), parse_double(key, item.substr(colon + 1), 0, 1e9)});
  }
  return out;
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"PORT", [](Config& c, const std::string& v) { c.port = parse_number<int>("PORT", v, 0, 65535); }},
      {"VMSHARE_HOST", [](Config& c, const std::string& v) { c.host = v; }},
      {"VMSHARE_DATA_DIR", [](Config& c, const std::string& v) { c.data_dir = v; }},
      {"VMSHARE_WEB_DIR", [](Config& c, const std::string& v) { c.web_dir = v; }},
      {"VMSHARE_IO_THREADS", [](Config& c, const std::string& v) { c.io_threads = parse_number<int>("VMSHARE_IO_THREADS", v, 0, 256); }},
      {"VMSHARE_WORKER_THREADS", [](Config& c, const std::string& v) { c.worker_threads = parse_number<int>("VMSHARE_WORKER_THREADS", v, 1, 1024); }},
      {"MAX_BODY_BYTES", [](Config& c, const std::string& v) { c.max_body_bytes = parse_number<std::uint64_t>("MAX_BODY_BYTES", v, 1024, 1ULL << 30); }},
      {"READ_TIMEOUT_S", [](Config& c, const std::string& v) { c.read_timeout_s = parse_number<int>("READ_TIMEOUT_S", v, 1, 3600); }},
      {"ALLOWED_ORIGINS", [](Config& c, const std::string& v) { c.allowed_origins = split_list(v, ','); }},
      {"VMSHARE_TRUSTED_PROXIES", [](Config& c, const std::string& v) {
         try {
           c.trusted_proxies = parse_network_list(v);
         } catch (const std::invalid_argument& e) {
           throw ConfigError(fmt::format("VMSHARE_TRUSTED_PROXIES: {}", e.what()));
         } }},
      {"DATABASE_URL", [](Config& c, const std::string& v) {
         require_url("DATABASE_URL", v, {"postgresql://", "postgres://"});
         c.database_url = v; }},
      {"REDIS_URL", [](Config& c, const std::string& v) { require_url("REDIS_URL", v, {"redis://"}); c.redis_url = v; }},
      {"DB_POOL_SIZE", [](Config& c, const std::string& v) { c.db_pool_size = parse_number<int>("DB_POOL_SIZE", v, 1, 256); }},
      {"SECRET_KEY", [](Config& c, const std::string& v) {
         if (!v.empty() && v.size() < 16) throw ConfigError("SECRET_KEY: must be at least 16 characters");
         c.secret_key = v; }},
      {"ACCESS_TOKEN_EXPIRE_MINUTES", [](Config& c, const std::string& v) { c.access_token_expire_minutes = parse_number<int>("ACCESS_TOKEN_EXPIRE_MINUTES", v, 1, 60 * 24 * 365); }},
      {"COOKIE_SECURE", [](Config& c, const std::string& v) { c.cookie_secure = parse_bool("COOKIE_SECURE", v); }},
      {"RECAPTCHA_SECRET", [](Config& c, const std::string& v) { c.recaptcha_secret = v; }},
      {"RECAPTCHA_SITE_KEY", [](Config& c, const std::string& v) { c.recaptcha_site_key = v; }},
      {"RECAPTCHA_VERIFY_URL", [](Config& c, const std::string& v) { require_url("RECAPTCHA_VERIFY_URL", v, {"http://", "https://"}); c.recaptcha_verify_url = v; }},
      {"RECAPTCHA_TIMEOUT_MS", [](Config& c, const std::string& v) { c.recaptcha_timeout_ms = parse_number<int>("RECAPTCHA_TIMEOUT_MS", v, 100, 60000); }},
      {"BCRYPT_COST", [](Config& c, const std::string& v) { c.bcrypt_cost = parse_number<int>("BCRYPT_COST", v, 4, 31); }},
      {"HASH_THREADS", [](Config& c, const std::string& v) { c.hash_threads = parse_number<int>("HASH_THREADS", v, 0, 64); }},
      {"LOGIN_MAX_FAILURES", [](Config& c, const std::string& v) { c.login_max_failures = parse_number<int>("LOGIN_MAX_FAILURES", v, 1, 1000); }},
      {"LOGIN_FAILURE_WINDOW_S", [](Config& c, const std::string& v) { c.login_failure_window_s = parse_number<int>("LOGIN_FAILURE_WINDOW_S", v, 1, 86400); }},
      {"LOGIN_ADDRESS_MAX_FAILURES", [](Config& c, const std::string& v) { c.login_address_max_failures = parse_number<int>("LOGIN_ADDRESS_MAX_FAILURES", v, 1, 1000000); }},
      {"SIGNUP_PER_ADDRESS_PER_HOUR", [](Config& c, const std::string& v) { c.signup_per_address_per_hour = parse_number<int>("SIGNUP_PER_ADDRESS_PER_HOUR", v, 1, 1000000); }},
      {"SIGNUP_PER_HOUR", [](Config& c, const std::string& v) { c.signup_per_hour = parse_number<int>("SIGNUP_PER_HOUR", v, 1, 10000000); }},
      {"HASH_QUEUE_MAX", [](Config& c, const std::string& v) { c.hash_queue_max = parse_number<int>("HASH_QUEUE_MAX", v, 1, 100000); }},
      {"HASH_QUEUE_WAIT_MS", [](Config& c, const std::string& v) { c.hash_queue_wait_ms = parse_number<int>("HASH_QUEUE_WAIT_MS", v, 100, 600000); }},
      {"THROTTLE_MEMORY_ENTRIES", [](Config& c, const std::string& v) { c.throttle_memory_entries = parse_number<int>("THROTTLE_MEMORY_ENTRIES", v, 1024, 10000000); }},
      {"VMSHARE_QEMU", [](Config& c, const std::string& v) { c.qemu = v; }},
      {"VMSHARE_QEMU_IMG", [](Config& c, const std::string& v) { c.qemu_img = v; }},
      {"VMSHARE_ACCEL", [](Config& c, const std::string& v) {
         if (v != "kvm" && v != "tcg" && v != "auto") throw ConfigError("VMSHARE_ACCEL: must be kvm, tcg or auto");
         c.accel = v; }},
      {"VMSHARE_IMAGES", [](Config& c, const std::string& v) { c.images = v; }},
      {"VMSHARE_CONSOLE_RELAY", [](Config& c, const std::string& v) {
         if (v != "copy" && v != "splice") throw ConfigError("VMSHARE_CONSOLE_RELAY: must be copy or splice");
         c.console_relay = v; }},
      {"VMSHARE_MAX_VMS", [](Config& c, const std::string& v) { c.max_vms = parse_number<int>("VMSHARE_MAX_VMS", v, 0, 10000); }},
      {"VMSHARE_DISCONNECT_GRACE_S", [](Config& c, const std::string& v) { c.disconnect_grace_s = parse_number<int>("VMSHARE_DISCONNECT_GRACE_S", v, 1, 86400); }},
      {"VMSHARE_MAX_SESSION_S", [](Config& c, const std::string& v) { c.max_session_s = parse_number<int>("VMSHARE_MAX_SESSION_S", v, 10, 86400 * 30); }},
      {"VMSHARE_STOP_TIMEOUT_S", [](Config& c, const std::string& v) { c.stop_timeout_s = parse_number<int>("VMSHARE_STOP_TIMEOUT_S", v, 1, 600); }},
      {"MAX_ISO_BYTES", [](Config& c, const std::string& v) { c.max_iso_bytes = parse_number<std::uint64_t>("MAX_ISO_BYTES", v, 1, 1ULL << 40); }},
      {"VMSHARE_DROP_MAX_MB", [](Config& c, const std::string& v) { c.drop_max_mb = parse_number<std::uint64_t>("VMSHARE_DROP_MAX_MB", v, 8, 4096); }},
      {"CONSOLE_VIEWERS_PER_VM", [](Config& c, const std::string& v) { c.console_viewers_per_vm = parse_number<int>("CONSOLE_VIEWERS_PER_VM", v, 1, 1000); }},
      {"CONSOLE_VIEWERS_PER_USER", [](Config& c, const std::string& v) { c.console_viewers_per_user = parse_number<int>("CONSOLE_VIEWERS_PER_USER", v, 1, 1000); }},
      {"SHARE_LINKS_PER_VM", [](Config& c, const std::string& v) { c.share_links_per_vm = parse_number<int>("SHARE_LINKS_PER_VM", v, 1, 100); }},
      {"UPLOADS_PER_USER", [](Config& c, const std::string& v) { c.uploads_per_user = parse_number<int>("UPLOADS_PER_USER", v, 1, 64); }},
      {"ISO_STORE_MAX_MB", [](Config& c, const std::string& v) { c.iso_store_max_mb = parse_number<std::uint64_t>("ISO_STORE_MAX_MB", v, 1, 1ULL << 30); }},
      {"ISO_STORE_MAX_FILES", [](Config& c, const std::string& v) { c.iso_store_max_files = parse_number<int>("ISO_STORE_MAX_FILES", v, 1, 10000000); }},
      {"SNAPSHOT_STORE_MAX_MB", [](Config& c, const std::string& v) { c.snapshot_store_max_mb = parse_number<std::uint64_t>("SNAPSHOT_STORE_MAX_MB", v, 1, 1ULL << 30); }},
      {"SNAPSHOT_STORE_MAX_FILES", [](Config& c, const std::string& v) { c.snapshot_store_max_files = parse_number<int>("SNAPSHOT_STORE_MAX_FILES", v, 1, 10000000); }},
      {"MIN_FREE_DISK_MB", [](Config& c, const std::string& v) { c.min_free_disk_mb = parse_number<std::uint64_t>("MIN_FREE_DISK_MB", v, 0, 1ULL << 30); }},
      {"RECORDING_MAX_MB", [](Config& c, const std::string& v) { c.recording_max_mb = parse_number<int>("RECORDING_MAX_MB", v, 1, 1 << 20); }},
      {"RECORDING_MAX_S", [](Config& c, const std::string& v) { c.recording_max_s = parse_number<int>("RECORDING_MAX_S", v, 1, 86400); }},
      {"RECORDING_FULL_FRAME_S", [](Config& c, const std::string& v) { c.recording_full_frame_s = parse_number<int>("RECORDING_FULL_FRAME_S", v, 1, 3600); }},
      {"FEEDBACK_MAX_PER_USER", [](Config& c, const std::string& v) { c.feedback_max_per_user = parse_number<int>("FEEDBACK_MAX_PER_USER", v, 1, 10000); }},
      {"FEEDBACK_WINDOW_S", [](Config& c, const std::string& v) { c.feedback_window_s = parse_number<int>("FEEDBACK_WINDOW_S", v, 1, 86400 * 7); }},
      {"VMSHARE_CONFINE", [](Config& c, const std::string& v) {
         if (v != "auto" && v != "on" && v != "off") throw ConfigError("VMSHARE_CONFINE: must be auto, on or off");
         c.confine = v; }},
      // Above the uids of people and system services, and below systemd's container range end.
      {"VMSHARE_VM_UID_BASE", [](Config& c, const std::string& v) { c.vm_uid_base = parse_number<std::uint32_t>("VMSHARE_VM_UID_BASE", v, 10000, 4000000000U); }},
      {"VMSHARE_CGROUPS", [](Config& c, const std::string& v) {
         if (v != "auto" && v != "off") throw ConfigError("VMSHARE_CGROUPS: must be auto or off");
         c.cgroups = v == "auto"; }},
      {"VMSHARE_VM_MEMORY_OVERHEAD_MB", [](Config& c, const std::string& v) { c.vm_memory_overhead_mb = parse_number<int>("VMSHARE_VM_MEMORY_OVERHEAD_MB", v, 64, 65536); }},
      {"VMSHARE_VM_PIDS_MAX", [](Config& c, const std::string& v) { c.vm_pids_max = parse_number<int>("VMSHARE_VM_PIDS_MAX", v, 32, 100000); }},
      {"PROM_URL", [](Config& c, const std::string& v) { require_url("PROM_URL", v, {"http://", "https://"}); c.prom_url = v; }},
      {"GRAFANA_URL", [](Config& c, const std::string& v) { require_url("GRAFANA_URL", v, {"http://", "https://"}); c.grafana_url = v; }},
      {"GRAFANA_IFRAME_BASE", [](Config& c, const std::string& v) { c.grafana_iframe_base = v; }},
      {"GRAFANA_AUTH_PROXY_HEADER", [](Config& c, const std::string& v) {
         const bool token = std::all_of(v.begin(), v.end(), [](char ch) { return std::isalnum((unsigned char)ch) || ch == '-' || ch == '_'; });
         if (!token) throw ConfigError("GRAFANA_AUTH_PROXY_HEADER: must be a header name such as X-WEBAUTH-USER");
         c.grafana_auth_proxy_header = v; }},
      {"GRAFANA_AUTH_PROXY_ROLE", [](Config& c, const std::string& v) {
         if (v != "Viewer" && v != "Editor" && v != "Admin" && !v.empty())
           throw ConfigError("GRAFANA_AUTH_PROXY_ROLE: must be Viewer, Editor, Admin or empty");
         c.grafana_auth_proxy_role = v; }},
      {"METRICS_TOKEN", [](Config& c, const std::string& v) { c.metrics_token = v; }},
      {"TG_BOT_TOKEN", [](Config& c, const std::string& v) { c.tg_bot_token = v; }},
      {"TG_CHAT_ID", [](Config& c, const std::string& v) { c.tg_chat_id = v; }},
      {"TELEGRAM_API_URL", [](Config& c, const std::string& v) { require_url("TELEGRAM_API_URL", v, {"http://", "https://"}); c.telegram_api_url = v; }},
      {"SENTRY_DSN", [](Config& c, const std::string& v) { require_url("SENTRY_DSN", v, {"http://", "https://"}); c.sentry_dsn = v; }},
      {"CPU_THRESH", [](Config& c, const std::string& v) { c.cpu_thresh = parse_double("CPU_THRESH", v, 0, 100); }},
      {"RAM_THRESH", [](Config& c, const std::string& v) { c.ram_thresh = parse_double("RAM_THRESH", v, 0, 100); }},
      {"SUSTAINED", [](Config& c, const std::string& v) { c.sustained_s = parse_number<int>("SUSTAINED", v, 0, 86400); }},
      {"INTERVAL", [](Config& c, const std::string& v) { c.interval_s = parse_number<int>("INTERVAL", v, 1, 3600); }},
      {"DISK_FREE_THRESHOLDS_GIB", [](Config& c, const std::string& v) { c.disk_free_thresholds_gib = parse_disk_thresholds("DISK_FREE_THRESHOLDS_GIB", v); }},
      {"LOG_LEVEL", [](Config& c, const std::string& v) {
         static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
         if (!levels.count(v)) throw ConfigError("LOG_LEVEL: must be one of trace, debug, info, warn, error, critical, off");
         c.log_level = v; }},
      // cluster (several nodes): checked together in check_cluster
      {"VMSHARE_NODE_ID", [](Config& c, const std::string& v) {
         const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char ch) {
           return std::isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.'; });
         if (!ok) throw ConfigError("VMSHARE_NODE_ID: 1 to 64 letters, digits, '-', '_' or '.'");
         c.cluster.node_id = v; }},
      {"VMSHARE_INTERNAL_URL", [](Config& c, const std::string& v) { require_url("VMSHARE_INTERNAL_URL", v, {"http://"}); c.cluster.internal_url = v; }},
      {"VMSHARE_INTERNAL_LISTEN", [](Config& c, const std::string& v) { c.cluster.internal_listen = v; }},
      {"VMSHARE_CLUSTER_KEY", [](Config& c, const std::string& v) { c.cluster.key = v; }},
      {"VMSHARE_CLUSTER_KEY_FILE", [](Config& c, const std::string& v) {
         std::ifstream in(v);
         if (!in) throw ConfigError("VMSHARE_CLUSTER_KEY_FILE: cannot read " + v);
         std::getline(in, c.cluster.key);
         c.cluster.key = trim(c.cluster.key); }},
      {"VMSHARE_HEARTBEAT_S", [](Config& c, const std::string& v) { c.cluster.heartbeat_s = parse_number<int>("VMSHARE_HEARTBEAT_S", v, 1, 600); }},
      {"VMSHARE_NODE_DEAD_S", [](Config& c, const std::string& v) { c.cluster.node_dead_s = parse_number<int>("VMSHARE_NODE_DEAD_S", v, 2, 86400); }},
      {"VMSHARE_NODE_MEMORY_MB", [](Config& c, const std::string& v) { c.cluster.memory_mb = parse_number<int>("VMSHARE_NODE_MEMORY_MB", v, 0, 1 << 30); }},
  };
  return table;
}

// Uploads hold a worker each and at most half the workers may (http/http_session.cpp): one
// account's slots must leave some of those for everyone else.
void check_upload_slots(const Config& config) {
  const int node_slots = std::max(1, config.worker_threads / 2);
  if (node_slots > 1 && config.uploads_per_user >= node_slots)
    throw ConfigError(fmt::format("UPLOADS_PER_USER: {} would let one account take all {} upload slots "
                                  "(half of VMSHARE_WORKER_THREADS); use at most {}",
                                  config.uploads_per_user, node_slots, node_slots - 1));
}

// Cluster mode needs every piece, or none: a node half in a cluster would break "one VM per user".
void check_cluster(const Config& config) {
  const auto& c = config.cluster;
  const bool any = !c.node_id.empty() || !c.internal_url.empty() || !c.key.empty() || !c.internal_listen.empty();
  if (!any) return;
  if (c.node_id.empty()) throw ConfigError("VMSHARE_NODE_ID: needed for cluster mode (VMSHARE_INTERNAL_URL or the cluster key is set)");
  if (c.internal_url.empty()) throw ConfigError("VMSHARE_INTERNAL_URL: needed in cluster mode (http://address:port the other nodes reach)");
  if (c.key.size() < 32) throw ConfigError("VMSHARE_CLUSTER_KEY: needed in cluster mode, at least 32 characters (or VMSHARE_CLUSTER_KEY_FILE)");
  if (config.database_url.empty()) throw ConfigError("DATABASE_URL: cluster mode needs PostgreSQL (the nodes share it)");
  if (config.redis_url.empty()) throw ConfigError("REDIS_URL: cluster mode needs Redis (the nodes share sessions)");
  if (c.node_dead_s < 2 * c.heartbeat_s) throw ConfigError("VMSHARE_NODE_DEAD_S: must be at least twice VMSHARE_HEARTBEAT_S");
}

}  // namespace

Config parse_config(const std::map<std::string, std::string>& file_values,
                    const std::map<std::string, std::string>& env) {
  const auto& table = setters();
  Config config;
  for (const auto& [key, value] : file_values) {
    auto it = table.find(key);
    if (it == table.end()) throw ConfigError(fmt::format("{}: unknown configuration key", key));
    it->second(config, value);
  }
  // The environment wins over the file. Foreign variables are ignored, but a VMSHARE_* name we do
  // not know is almost always a typo, and silently ignoring it would surprise the operator.
  for (const auto& [key, value] : env) {
    auto it = table.find(key);
    if (it == table.end()) {
      if (key.rfind("VMSHARE_", 0) == 0 && key.rfind("VMSHARE_TEST_", 0) != 0)
        throw ConfigError(fmt::format("{}: unknown configuration key", key));
      continue;
    }
    it->second(config, value);
  }
  if (config.io_threads == 0)
    config.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  check_upload_slots(config);
  check_cluster(config);
  return config;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("--config: cannot read {}", path));
  std::map<std::string, std::string> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(fmt::format("--config: line {} is not KEY=VALUE", number));
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    out[key] = value;
  }
  return out;
}

std::map<std::string, std::string> environment_map() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& [name, _] : setters()) k.push_back(name);
    return k;
  }();
  return keys;
}

}  // namespace vmshare
