#pragma once
// What we save about each VM so a restarted daemon can adopt it (libvirt's habit): one JSON
// file per VM, written atomically, next to its overlay and sockets.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmshare::vm {

struct VmRecord {
  std::string vmid;
  std::int64_t user_id = 0;
  std::string os_type;
  std::int64_t pid = 0;
  std::int64_t started_at = 0;  // unix seconds
  std::int64_t expires_at = 0;  // unix seconds
  std::string run_dir;          // absolute; holds disk.qcow2, vnc.sock, qmp.sock, state.json
  std::string iso_path;         // attached ISO, if any
  std::string base_image;       // what the overlay sits on (catalog base or a snapshot file)
  std::string source_snapshot;  // the snapshot it was booted from, if any
  std::uint32_t uid = 0;        // the user QEMU runs as when confined; 0: vmshare's own
};

// Pure JSON round trip; from_json returns nullopt for anything malformed.
std::string vm_record_to_json(const VmRecord& record);
std::optional<VmRecord> vm_record_from_json(const std::string& text);

// Writes <run_dir>/state.json through a temporary file and rename, so a crash never leaves a
// half-written record.
void save_vm_record(const VmRecord& record);
std::optional<VmRecord> load_vm_record(const std::string& run_dir);

// [A-Za-z0-9]{16}: fresh random VM id (also safe in paths and Redis keys).
std::string new_vmid();
bool valid_vmid(const std::string& vmid);

}  // namespace vmshare::vm
