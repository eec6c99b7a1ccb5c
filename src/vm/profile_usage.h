#pragma once
// Which running VMs use a catalog profile, as seen from outside the server (`vmshare image
// remove`): every VM has a folder <data>/vms/<vmid> with its record (vm_record.h), which the
// server writes before it reports the VM started and keeps until the VM's clean-up.
#include <string>
#include <vector>

#include "vm/catalog.h"
#include "vm/vm_record.h"

namespace vmshare::vm {

// Pure: the VM was booted from this profile, or sits on one of its files.
bool record_uses_profile(const VmRecord& record, const Profile& profile);

// The vmids of VMs whose QEMU still runs (or whose folder has not been cleaned up yet) and that
// use `profile`. A recent folder without a readable record counts too: a launch in progress.
std::vector<std::string> vms_using_profile(const std::string& vms_dir, const Profile& profile);

}  // namespace vmshare::vm
