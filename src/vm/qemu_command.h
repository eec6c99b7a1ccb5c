#pragma once
// The QEMU command line as a pure function: spec in, argv out (libvirt's habit). Tested
// against golden files in tests/unit/vm/golden without running QEMU.
//
// Choices, and why:
// - -nodefaults -no-user-config: only devices we ask for; no host config file sneaks in.
// - -sandbox on,...=deny: seccomp filter; no exec, no privilege changes (needs no -daemonize).
// - Disk: the per-VM qcow2 overlay as two -blockdev nodes (file node "disk0-file" under the
//   qcow2 node "disk0", explicit formats, QEMU never probes), exposed as virtio-blk-pci (fast,
//   the tiny guest loads virtio modules). The node name is kDiskNodeName: snapshots back it up.
// - ISO: raw + read-only, on IDE as ide-cd (every installer's BIOS and kernel can read ATAPI),
//   booted first with -boot order=d.
// - No -no-shutdown: a guest power-off ends the process, which is how the manager learns it.
// - -nic none: no network at all for now (sandboxing; user guests are untrusted).
// - VNC and QMP on UNIX sockets in run_dir (0700, created by the caller); no VNC password, the
//   directory's permissions are the access control and the console bridge is the only client.
// - qemu-xhci + usb-tablet: absolute pointer, so the noVNC cursor lines up.
// -blockdev values are written as JSON, so paths need no comma escaping.
#include <string>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

inline constexpr const char* kDiskNodeName = "disk0";
inline constexpr const char* kCdromNodeName = "cd0";
inline constexpr int kTcgTranslationCacheMb = 256;

struct QemuSpec {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string vmid;          // [A-Za-z0-9_-]{1,64}; goes into -name guest=
  std::string accel = "tcg"; // "kvm" | "tcg" (resolve "auto" with resolve_accel first)
  int memory_mb = 256;
  int cpus = 1;
  std::string disk_path;     // absolute path of the qcow2 overlay (required)
  std::string iso_path;      // optional absolute path: attached raw, read-only, booted first
  std::string kernel;        // optional absolute path: direct kernel boot
  std::string initrd;        // optional; needs kernel
  std::string append;        // optional kernel command line; needs kernel
  std::string run_dir;       // absolute, no commas; holds vnc.sock and qmp.sock
};

// "kvm" | "tcg" | "auto" -> "kvm" | "tcg". "auto" picks kvm when usable. Unknown values throw
// QemuSpecError. Pure; probe_kvm() supplies `kvm_usable` in production.
std::string resolve_accel(const std::string& requested, bool kvm_usable);

// True when /dev/kvm can be opened read-write by this process (impure; the one probe).
bool probe_kvm();

std::string vnc_socket_path(const std::string& run_dir);  // <run_dir>/vnc.sock
std::string qmp_socket_path(const std::string& run_dir);  // <run_dir>/qmp.sock

// Validates the spec (throws QemuSpecError with the offending field) and returns argv,
// argv[0] being qemu_binary. Never invokes a shell; every element is one argument.
std::vector<std::string> build_qemu_argv(const QemuSpec& spec);

}  // namespace vmshare::vm
