#pragma once
// What the VMs' users may reach on the host when QEMU runs as a per-VM user (confinement.h):
// nothing of the data folder. Each VM's folder (<data>/vms/<vmid>) is vmshare's, 0700, and QEMU
// gets descriptors of the files in it (launch_plan.h), so a VM's uid owns no file and needs no
// path. The one exception is a catalog profile's kernel and initrd (direct kernel boot), which
// QEMU opens by path: they must be readable by everyone, checked at start-up and at launch.
#include <sys/types.h>

#include <string>

namespace vmshare::vm {

// Start-up, when confining: the data folder 0711 (a kernel kept below it stays reachable), vms/
// 0700, the data folder's own files (database, secret key, node id) unreadable to others; its
// other folders keep their modes.
void open_data_dir_to_vms(const std::string& data_dir, const std::string& vms_dir);

// True when `path` is a regular file others may read and every parent folder lets them through.
bool readable_by_everyone(const std::string& path);

}  // namespace vmshare::vm
