#pragma once
// The QEMU command line as a pure function: spec in, argv out (libvirt's habit). Tested
// against golden files in tests/unit/vm/golden without running QEMU.
//
// Choices, and why:
// - -nodefaults -no-user-config: only devices we ask for; no host config file sneaks in.
// - -sandbox on,...=deny: seccomp filter; no exec, no privilege changes (needs no -daemonize).
// - Files by descriptor only (libvirt's way): vmshare opens every file QEMU uses and passes the
//   descriptors at spawn (-add-fd, fixed numbers below); QEMU opens "/dev/fdset/<n>", never a
//   path, so nothing a confined QEMU could swap (a symlink in a folder it owns) is ever followed,
//   and a confined QEMU owns no file on the host at all.
// - Disk: the per-VM qcow2 overlay as two -blockdev nodes (file node "disk0-file" under the
//   qcow2 node "disk0", explicit formats, QEMU never probes), exposed as virtio-blk-pci (fast,
//   the tiny guest loads virtio modules). The node name is kDiskNodeName: snapshots back it up.
//   Its backing (catalog image or snapshot) is its own read-only node "base0" named explicitly,
//   so the path written in the overlay's header is never opened, and base0 has no backing.
// - ISO: raw + read-only, on IDE as ide-cd (every installer's BIOS and kernel can read ATAPI),
//   booted first with -boot order=d.
// - No -no-shutdown: a guest power-off ends the process, which is how the manager learns it.
// - -nic none: no network at all for now (sandboxing; user guests are untrusted).
// - QMP: a chardev on a listening socket vmshare bound in its own folder and passes as fd 3, so
//   vmshare can reconnect after a restart and QEMU names no path. VNC: "-vnc none"; each viewer
//   is a socketpair end handed over with QMP getfd + add_client, so there is no VNC socket.
// - qemu-xhci + usb-tablet: absolute pointer, so the noVNC cursor lines up.
// -blockdev values are written as JSON, so paths need no comma escaping.
#include <string>
#include <vector>

#include "vm/errors.h"

namespace vmshare::vm {

inline constexpr const char* kDiskNodeName = "disk0";
inline constexpr const char* kCdromNodeName = "cd0";
inline constexpr const char* kBaseNodeName = "base0";
inline constexpr int kTcgTranslationCacheMb = 256;

// Descriptor numbers inside QEMU's process (vmshare dup2s its own there at spawn), and the fd
// sets the command line puts them in.
inline constexpr int kQmpFd = 3, kDiskFd = 4, kBaseFd = 5, kIsoFd = 6;
inline constexpr int kDiskFdset = 1, kBaseFdset = 2, kIsoFdset = 3;

struct QemuSpec {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string vmid;          // [A-Za-z0-9_-]{1,64}; goes into -name guest=
  std::string accel = "tcg"; // "kvm" | "tcg" (resolve "auto" with resolve_accel first)
  int memory_mb = 256;
  int cpus = 1;
  // The overlay (kDiskFd, read-write) is always there; which of the others are passed:
  bool has_base = false;     // kBaseFd: the overlay's qcow2 backing, read-only
  bool has_iso = false;      // kIsoFd: an ISO, raw, read-only, booted first
  std::string kernel;        // optional absolute path: direct kernel boot (operator's catalog file)
  std::string initrd;        // optional; needs kernel
  std::string append;        // optional kernel command line; needs kernel
};

// "kvm" | "tcg" | "auto" -> "kvm" | "tcg". "auto" picks kvm when usable. Unknown values throw
// QemuSpecError. Pure; probe_kvm() supplies `kvm_usable` in production.
std::string resolve_accel(const std::string& requested, bool kvm_usable);

std::string fdset_path(int fdset);  // "/dev/fdset/<n>"

// Validates the spec (throws QemuSpecError with the offending field) and returns argv,
// argv[0] being qemu_binary. Never invokes a shell; every element is one argument.
std::vector<std::string> build_qemu_argv(const QemuSpec& spec);

}  // namespace vmshare::vm
