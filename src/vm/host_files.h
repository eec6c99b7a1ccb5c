#pragma once
// The files and descriptors vmshare prepares for a VM, opened so that nothing is followed that
// someone else could have swapped: no symlinks (O_NOFOLLOW), regular files checked with fstat
// before use, new files created exclusively. Blocking; worker threads only.
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "vm/unique_fd.h"

namespace vmshare::vm {

// mkdir(path, 0700) that fails when anything is already there.
void make_private_dir(const std::string& path);
// A regular file, opened read-only or read-write, never through a symlink; throws VmError.
UniqueFd open_regular(const std::string& path, bool writable);
// A new file (O_EXCL, never through a symlink), mode 0600.
UniqueFd create_exclusive(const std::string& path, int extra_flags = 0);
// A UNIX stream socket bound at `path` (which must not exist) and listening; QEMU inherits it.
UniqueFd listen_unix(const std::string& path);
// Reads at most `max_bytes` from the start of an open file; throws VmError when it is bigger.
std::string read_capped(int fd, std::size_t max_bytes);
// The last `max_bytes` of a file vmshare owns (QEMU's log), cut at a line start; "" when absent.
std::string tail_of_file(const std::string& path, std::size_t max_bytes);

// Children run with a fixed PATH (child_env.h), so a bare binary name is resolved once in
// vmshare's own PATH: its absolute path, or `name` itself when not found (spawning then fails
// with a clear "cannot start").
std::string resolve_in_path(const std::string& name);

// Ends every process running as `uid` (kill(-1) from a child that has become that uid, so it
// needs no /proc and no pid, and reaches a process that hid from its monitor). For the VMs'
// uids only: refuses uid 0 and vmshare's own. Returns false when the child could not run.
bool kill_all_of_uid(uid_t uid);

}  // namespace vmshare::vm
