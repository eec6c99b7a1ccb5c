#pragma once
// Who may read which file when QEMU runs as a per-VM user (confinement.h).
//
// The layout: the data folder and vms/ are 0711 (searchable, not listable); each VM folder is
// 0700 and owned by its VM's uid, so only that VM (and vmshare) can enter it. isos/ and
// snapshots/ stay 0700 root. A VM reads its private inputs (the user's ISO, the snapshot it
// boots from) through hard links in its own folder: the inode may then be world-readable (0644)
// because the only paths that reach it pass through folders no other VM can enter.
// Catalog images are shared by every VM and must be readable by all (checked at launch).
#include <sys/types.h>

#include <string>

namespace vmshare::vm {

// Start-up, when confining: the folder modes above; the data folder's own files (database,
// secret key, node id) are made unreadable to others; its other folders keep their modes. Throws std::runtime_error
// when a parent of the data folder is not searchable by others (the VMs could not reach theirs).
void open_data_dir_to_vms(const std::string& data_dir, const std::string& vms_dir);

// True when `path` is a regular file others may read and every parent folder lets them through.
bool readable_by_everyone(const std::string& path);

// The VM's folder and the files QEMU writes (its overlay) now belong to the VM's user.
void hand_over(const std::string& path, uid_t uid, gid_t gid, mode_t mode);

// A read-only view of `source` inside `run_dir` named `name`; returns its path. Throws
// VmError when the two are on different filesystems (no hard link possible).
std::string share_read_only(const std::string& source, const std::string& run_dir, const std::string& name);

// Moves a finished file QEMU wrote in a VM folder to `target` (owned by vmshare, 0600); copies when
// they are on different filesystems. Throws VmError; `staged` is gone either way.
void collect_from_vm(const std::string& staged, const std::string& target);

}  // namespace vmshare::vm
