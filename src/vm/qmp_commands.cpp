#include "vm/qmp_commands.h"

namespace vmshare::vm {

using nlohmann::json;

namespace {
std::uint64_t u64(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}
QmpError protocol(const std::string& desc) {
  QmpStatus s;
  s.kind = QmpStatus::Kind::protocol_error;
  s.desc = desc;
  return QmpError(s);
}
}  // namespace

RunStatus QmpCommands::query_status() {
  json r = conn_.execute_sync("query-status");
  RunStatus s;
  s.status = str(r, "status");
  s.running = r.value("running", false);
  return s;
}

void QmpCommands::cont() { conn_.execute_sync("cont"); }
void QmpCommands::stop() { conn_.execute_sync("stop"); }
void QmpCommands::system_powerdown() { conn_.execute_sync("system_powerdown"); }
void QmpCommands::system_reset() { conn_.execute_sync("system_reset"); }
void QmpCommands::quit() { conn_.execute_sync("quit"); }

void QmpCommands::screendump(const std::string& path, const std::string& format) {
  conn_.execute_sync("screendump", {{"filename", path}, {"format", format}});
}

void QmpCommands::getfd(int fd, const std::string& name) {
  conn_.execute_sync("getfd", {{"fdname", name}}, std::nullopt, fd);
}

void QmpCommands::closefd(const std::string& name) { conn_.execute_sync("closefd", {{"fdname", name}}); }

void QmpCommands::add_vnc_client(const std::string& fd_name) {
  conn_.execute_sync("add_client", {{"protocol", "vnc"}, {"fdname", fd_name}, {"skipauth", true}});
}

std::int64_t QmpCommands::add_fd(int fd, const std::string& opaque) {
  auto ret = conn_.execute_sync("add-fd", {{"opaque", opaque}}, std::nullopt, fd);
  auto it = ret.find("fdset-id");
  if (!ret.is_object() || it == ret.end() || !it->is_number_integer()) {
    QmpStatus s;
    s.kind = QmpStatus::Kind::protocol_error;
    s.desc = "the VM monitor gave no fd set";
    throw QmpError(s);
  }
  return it->get<std::int64_t>();
}

void QmpCommands::remove_fd(std::int64_t fdset_id) { conn_.execute_sync("remove-fd", {{"fdset-id", fdset_id}}); }

std::vector<JobInfo> QmpCommands::query_jobs() {
  std::vector<JobInfo> out;
  for (const auto& j : conn_.execute_sync("query-jobs")) {
    JobInfo i;
    i.id = str(j, "id");
    i.type = str(j, "type");
    i.status = str(j, "status");
    i.current_progress = u64(j, "current-progress");
    i.total_progress = u64(j, "total-progress");
    i.error = str(j, "error");
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<BlockJobInfo> QmpCommands::query_block_jobs() {
  std::vector<BlockJobInfo> out;
  for (const auto& j : conn_.execute_sync("query-block-jobs")) {
    BlockJobInfo i;
    i.device = str(j, "device");
    i.type = str(j, "type");
    i.status = str(j, "status");
    i.offset = u64(j, "offset");
    i.len = u64(j, "len");
    i.ready = j.value("ready", false);
    out.push_back(std::move(i));
  }
  return out;
}

void QmpCommands::job_cancel(const std::string& id) { conn_.execute_sync("job-cancel", {{"id", id}}); }
void QmpCommands::job_dismiss(const std::string& id) { conn_.execute_sync("job-dismiss", {{"id", id}}); }

std::uint64_t QmpCommands::node_virtual_size(const std::string& node_name) {
  for (const auto& n : conn_.execute_sync("query-named-block-nodes", {{"flat", true}})) {
    if (str(n, "node-name") != node_name) continue;
    auto img = n.find("image");
    if (img != n.end() && img->is_object()) return u64(*img, "virtual-size");
  }
  throw protocol("the VM disk was not found");
}

void QmpCommands::blockdev_add_qcow2(const std::string& node_name, const std::string& path) {
  conn_.execute_sync("blockdev-add", {{"driver", "qcow2"},
                                      {"node-name", node_name},
                                      {"file", {{"driver", "file"}, {"filename", path}}}});
}

void QmpCommands::blockdev_del(const std::string& node_name) {
  conn_.execute_sync("blockdev-del", {{"node-name", node_name}});
}

void QmpCommands::blockdev_backup_full(const std::string& job_id, const std::string& device,
                                       const std::string& target) {
  conn_.execute_sync("blockdev-backup", {{"job-id", job_id},
                                         {"device", device},
                                         {"target", target},
                                         {"sync", "full"},
                                         {"auto-dismiss", false}});
}

void QmpCommands::blockdev_add(const json& args) { conn_.execute_sync("blockdev-add", args); }
void QmpCommands::device_add(const json& args) { conn_.execute_sync("device_add", args); }
void QmpCommands::device_del(const std::string& id) { conn_.execute_sync("device_del", {{"id", id}}); }

std::vector<std::string> QmpCommands::qom_list(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& p : conn_.execute_sync("qom-list", {{"path", path}})) out.push_back(str(p, "name"));
  return out;
}

}  // namespace vmshare::vm
