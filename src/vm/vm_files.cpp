#include "vm/vm_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "vm/errors.h"

namespace vmshare::vm {

namespace fs = std::filesystem;

void open_data_dir_to_vms(const std::string& data_dir, const std::string& vms_dir) {
  const auto data = fs::absolute(data_dir).lexically_normal();
  std::error_code ec;
  const auto vms = fs::absolute(vms_dir).lexically_normal();
  for (const auto& entry : fs::directory_iterator(data, ec)) {
    // Files only: folders keep their modes (isos/ and snapshots/ are 0700 already, and a catalog
    // kept in the data folder, as in the quick start, may hold a kernel the VMs boot by path).
    if (entry.path() == vms) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
      ::chmod(entry.path().c_str(), st.st_mode & 07700);
  }
  ::chmod(data.c_str(), 0711);
  ::chmod(vms.c_str(), 0700);
}

bool readable_by_everyone(const std::string& path) {
  const auto file = fs::absolute(path).lexically_normal();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IROTH)) return false;
  for (auto p = file.parent_path(); !p.empty(); p = p.parent_path()) {
    if (::stat(p.c_str(), &st) != 0 || !(st.st_mode & S_IXOTH)) return false;
    if (p == p.root_path()) break;
  }
  return true;
}

}  // namespace vmshare::vm
