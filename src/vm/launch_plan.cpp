#include "vm/launch_plan.h"

#include <fmt/format.h>

#include "vm/errors.h"
#include "vm/qemu_command.h"

namespace vmshare::vm {

LaunchPlan plan_launch(const LaunchRequest& req, const LaunchEnvironment& env, const Catalog& catalog) {
  const Profile* profile = req.os_type == kCustomProfileName ? nullptr : catalog.find(req.os_type);
  const bool from_snapshot = !req.snapshot_path.empty();
  const bool from_iso = !req.iso_path.empty();
  if (!profile && !from_snapshot && !from_iso) throw UnknownProfile("Unknown os_type '" + req.os_type + "'");

  LaunchPlan p;
  p.memory_mb = profile ? profile->memory_mb : 512;
  p.cpus = profile ? profile->cpus : 1;
  p.overlay_path = env.vm_dir + "/disk.qcow2";
  p.qmp_socket_path = env.vm_dir + "/qmp.sock";
  p.log_path = env.vm_dir + "/qemu.log";
  p.iso_path = req.iso_path;
  if (from_snapshot) p.backing_path = req.snapshot_path;
  else if (profile && !from_iso) p.backing_path = profile->base_image;  // empty for an installer profile
  // A catalog installer CD belongs to a fresh boot of its profile, like its kernel.
  const bool profile_iso = profile && !from_snapshot && !from_iso && !profile->iso.empty();
  if (profile_iso) p.iso_path = profile->iso;
  if (p.backing_path.empty()) p.blank_bytes = kIsoInstallDiskBytes;

  auto& r = p.record;
  r.vmid = env.vmid;
  r.user_id = req.user_id;
  r.os_type = req.os_type;
  r.run_dir = env.vm_dir;
  r.iso_path = p.iso_path;
  r.base_image = p.backing_path;
  r.source_snapshot = req.snapshot_name;
  r.started_at = env.now;
  r.expires_at = env.now + env.max_session_s;
  r.uid = env.confine ? env.confine->uid : 0;

  QemuSpec q;
  q.qemu_binary = env.qemu_binary;
  q.vmid = env.vmid;
  q.accel = env.accel;
  q.memory_mb = p.memory_mb;
  q.cpus = p.cpus;
  q.has_base = !p.backing_path.empty();
  q.has_iso = !p.iso_path.empty();
  if (profile && !from_snapshot && !from_iso) {  // direct kernel boot belongs to the catalog image
    q.kernel = profile->kernel;
    q.initrd = profile->initrd;
    q.append = profile->append;
  }
  p.argv = build_qemu_argv(q);
  if (env.confine) p.argv = drop_privileges_argv(*env.confine, p.argv, env.setpriv);
  p.limits = vm_limits(p.memory_mb, p.cpus, env.memory_overhead_mb, env.pids_max);
  return p;
}

std::string describe(const LaunchPlan& p) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) { out += fmt::format("{}: {}\n", key, value); };
  line("record", vm_record_to_json(p.record));
  line("overlay", p.overlay_path);
  line("backing", p.backing_path.empty() ? fmt::format("none (blank, {} bytes)", p.blank_bytes) : p.backing_path);
  line("iso", p.iso_path.empty() ? "none" : p.iso_path);
  line("qmp socket", p.qmp_socket_path);
  line("log", p.log_path);
  line("limits", fmt::format("memory {} bytes, cpu {}%, pids {}", p.limits.memory_bytes, p.limits.cpu_percent,
                             p.limits.pids));
  for (const auto& a : p.argv) line("argv", a);
  return out;
}

}  // namespace vmshare::vm
