#pragma once
// Server configuration: every key from API.md, read from the environment and an optional file.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ip_network.h"

namespace vmshare {

// A bad or unknown configuration key; the message names the key.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DiskThreshold {
  std::string mount;
  double free_gib = 0;
};

struct Config {
  // server
  int port = 8000;
  std::string host = "127.0.0.1";
  std::string data_dir = "./var";
  std::string web_dir;             // empty: <source web dir> next to the binary, see main.cpp
  int io_threads = 0;              // 0: number of cores
  int worker_threads = 16;         // blocking handler work (database, QMP, files)
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint64_t max_header_bytes = 16 << 10;
  int read_timeout_s = 30;
  std::vector<std::string> allowed_origins;  // besides this site's own
  // Peers whose X-Forwarded-For / X-Real-IP name the client (nginx on this host). Loopback by
  // default: a local process is trusted as local anyway, so believing what it forwards only
  // ever makes a client less privileged, and /metrics behind nginx is not open to everyone.
  std::vector<IpNetwork> trusted_proxies = parse_network_list("127.0.0.0/8, ::1");

  // storage
  std::string database_url;  // empty: SQLite in data_dir
  std::string redis_url;     // empty: in-process
  int db_pool_size = 8;

  // auth
  std::string secret_key;  // empty: generated once in data_dir
  int access_token_expire_minutes = 30;
  bool cookie_secure = true;
  std::string recaptcha_secret;
  std::string recaptcha_site_key;
  std::string recaptcha_verify_url = "https://www.google.com/recaptcha/api/siteverify";
  int recaptcha_timeout_ms = 5000;
  int bcrypt_cost = 12;
  int hash_threads = 0;  // 0: one per core but one (auth::default_hash_threads)
  int login_max_failures = 5;
  int login_failure_window_s = 300;
  // Failed sign-ins from one address (an IPv6 /64) per LOGIN_FAILURE_WINDOW_S, whatever logins
  // they name: one address can neither lock out nor try many accounts.
  int login_address_max_failures = 20;
  // Sign-ups per hour from one address, and in all (reCAPTCHA or not).
  int signup_per_address_per_hour = 5;
  int signup_per_hour = 100;
  // Hash work waiting for a thread: at most this many, for at most this long; beyond, 503.
  int hash_queue_max = 64;
  int hash_queue_wait_ms = 5000;
  // In-process throttling counters held at most (~150 bytes each); Redis keys expire instead.
  int throttle_memory_entries = 65536;

  // VMs
  std::string qemu = "qemu-system-x86_64";
  std::string qemu_img = "qemu-img";
  std::string accel = "auto";  // kvm | tcg | auto
  std::string images;          // catalog file; empty: <data_dir>/images/catalog.json
  int max_vms = 8;
  int disconnect_grace_s = 120;
  int max_session_s = 14400;
  int stop_timeout_s = 20;
  std::uint64_t max_iso_bytes = 2ULL << 30;
  std::uint64_t drop_max_mb = 64;  // largest USB stick of files dropped into a VM (vm/usb_drop_service.h)
  // Caps that keep one account (or one node's disk) from taking everything; each refusal is
  // counted in vmshare_cap_refusals_total{cap}.
  int console_viewers_per_vm = 4;     // console WebSockets open on one VM (429 above)
  int console_viewers_per_user = 8;   // console WebSockets one user has open, any VMs (429 above)
  std::string console_relay = "copy";  // copy | splice: how VM output reaches the browser (vm/console_bridge.h)
  int share_links_per_vm = 5;         // live share links of one VM (429 above; issue 15)
  int uploads_per_user = 1;           // ISO uploads in progress per user (429 above)
  std::uint64_t iso_store_max_mb = 65536;  // all stored ISOs on this node together (507 above)
  int iso_store_max_files = 500;           // stored ISOs on this node (507 above)
  std::uint64_t snapshot_store_max_mb = 262144;  // this node's snapshots together (507 above)
  int snapshot_store_max_files = 5000;           // this node's snapshots (507 above)
  std::uint64_t min_free_disk_mb = 2048;  // an ISO or snapshot never leaves less free in the data folder (507)
  // console recordings (vm/recording_service.h): caps per recording, and how often a full frame
  // is asked for (the replay's seek points)
  int recording_max_mb = 64;
  int recording_max_s = 3600;
  int recording_full_frame_s = 10;
  int feedback_max_per_user = 5;          // /feedback messages per user per window (429 above; session store)
  int feedback_window_s = 3600;
  // confinement (vm/confinement.h, vm/cgroups.h)
  std::string confine = "auto";               // auto | on | off: QEMU as a per-VM user
  std::uint32_t vm_uid_base = 1900000000;     // VM n runs as uid/gid base+n (no passwd entry needed)
  bool cgroups = true;                        // per-VM memory/cpu/pids limits where the host allows
  int vm_memory_overhead_mb = 512;            // on top of guest RAM: QEMU itself, TCG's code cache
  int vm_pids_max = 512;

  // observability
  std::string prom_url;
  std::string grafana_url;
  std::string grafana_iframe_base = "/grafana";
  // Grafana's auth proxy fed by vmshare: this header carries the signed-in user's login and
  // X-WEBAUTH-ROLE the fixed role. Empty: no identity is sent (anonymous viewer or Grafana's own sign-in).
  std::string grafana_auth_proxy_header;
  std::string grafana_auth_proxy_role = "Viewer";  // Viewer | Editor | Admin | "" (none sent)
  std::string metrics_token;
  std::string tg_bot_token;
  std::string tg_chat_id;
  std::string telegram_api_url = "https://api.telegram.org";
  std::string sentry_dsn;
  double cpu_thresh = 90;
  double ram_thresh = 90;
  int sustained_s = 120;
  int interval_s = 15;
  std::vector<DiskThreshold> disk_free_thresholds_gib;

  std::string log_level = "info";

  // cluster (src/cluster): several nodes as one service; off unless VMSHARE_NODE_ID is set
  struct Cluster {
    std::string node_id;        // this node's name in the shared tables
    std::string internal_url;   // how the other nodes reach this one: http://host:port
    std::string internal_listen;  // host:port of the internal listener; empty: from internal_url
    std::string key;            // shared by the nodes (VMSHARE_CLUSTER_KEY or VMSHARE_CLUSTER_KEY_FILE)
    int heartbeat_s = 3;
    int node_dead_s = 15;       // a node silent this long has its VMs marked lost
    int memory_mb = 0;          // memory for VMs on this node; 0: the host's MemTotal
    bool enabled() const { return !node_id.empty(); }
  } cluster;
};

// Builds a Config from key/value pairs (the same keys in the environment and the file).
// Unknown keys in `file_values`, and unknown VMSHARE_* keys in `env`, raise ConfigError.
Config parse_config(const std::map<std::string, std::string>& file_values,
                    const std::map<std::string, std::string>& env);

// Reads KEY=VALUE lines ('#' comments, optional quotes). Throws ConfigError on a malformed line.
std::map<std::string, std::string> read_config_file(const std::string& path);

std::map<std::string, std::string> environment_map();

// All keys parse_config understands, for --help.
const std::vector<std::string>& config_keys();

}  // namespace vmshare
