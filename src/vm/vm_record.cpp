#include "vm/vm_record.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace vmshare::vm {

std::string vm_record_to_json(const VmRecord& r) {
  return nlohmann::json{{"vmid", r.vmid},       {"user_id", r.user_id},       {"os_type", r.os_type},
                        {"pid", r.pid},         {"started_at", r.started_at}, {"expires_at", r.expires_at},
                        {"run_dir", r.run_dir}, {"iso_path", r.iso_path},
                        {"base_image", r.base_image}, {"source_snapshot", r.source_snapshot},
                        {"uid", r.uid}}
      .dump();
}

std::optional<VmRecord> vm_record_from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    VmRecord r;
    r.vmid = j.at("vmid").get<std::string>();
    r.user_id = j.at("user_id").get<std::int64_t>();
    r.os_type = j.at("os_type").get<std::string>();
    r.pid = j.at("pid").get<std::int64_t>();
    r.started_at = j.at("started_at").get<std::int64_t>();
    r.expires_at = j.at("expires_at").get<std::int64_t>();
    r.run_dir = j.at("run_dir").get<std::string>();
    r.iso_path = j.value("iso_path", "");
    r.base_image = j.value("base_image", "");
    r.source_snapshot = j.value("source_snapshot", "");
    r.uid = j.value("uid", std::uint32_t{0});
    if (!valid_vmid(r.vmid) || r.run_dir.empty() || r.run_dir[0] != '/') return std::nullopt;
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void save_vm_record(const VmRecord& record) {
  const std::string path = record.run_dir + "/state.json";
  const std::string tmp = path + ".tmp";
  const std::string text = vm_record_to_json(record);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw std::runtime_error("cannot write the VM state file");
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write the VM state file");
  }
}

std::optional<VmRecord> load_vm_record(const std::string& run_dir) {
  std::ifstream in(run_dir + "/state.json");
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return vm_record_from_json(buffer.str());
}

std::string new_vmid() {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
    throw std::runtime_error("getrandom failed");
  std::string id;
  for (unsigned char b : bytes) id += alphabet[b % 36];
  return id;
}

bool valid_vmid(const std::string& vmid) {
  if (vmid.empty() || vmid.size() > 64) return false;
  for (char c : vmid)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace vmshare::vm
