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
  for (auto p = data.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH))
      throw std::runtime_error(
          "VMSHARE_DATA_DIR: a parent folder is not searchable by others, so QEMU running as the VMs' "
          "users could not reach their folders (chmod o+x it, or VMSHARE_CONFINE=off)");
    if (p == p.root_path()) break;
  }
  std::error_code ec;
  const auto vms = fs::absolute(vms_dir).lexically_normal();
  for (const auto& entry : fs::directory_iterator(data, ec)) {
    // Files only: folders keep their modes (isos/ and snapshots/ are 0700 already, and a catalog
    // kept in the data folder, as in the quick start, must stay readable by the VMs).
    if (entry.path() == vms) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
      ::chmod(entry.path().c_str(), st.st_mode & 07700);
  }
  ::chmod(data.c_str(), 0711);
  ::chmod(vms.c_str(), 0711);
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

void hand_over(const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  if (::chown(path.c_str(), uid, gid) != 0 || ::chmod(path.c_str(), mode) != 0)
    throw VmError(std::string("cannot give the VM its files: ") + std::strerror(errno));
}

std::string share_read_only(const std::string& source, const std::string& run_dir, const std::string& name) {
  const std::string link = run_dir + "/" + name;
  if (::link(source.c_str(), link.c_str()) != 0) {
    if (errno == EXDEV)
      throw VmError("the VM folder and its ISO or snapshot must be on one filesystem (VMSHARE_DATA_DIR)");
    throw VmError(std::string("cannot share the file with the VM: ") + std::strerror(errno));
  }
  if (::chmod(link.c_str(), 0644) != 0) {
    ::unlink(link.c_str());
    throw VmError(std::string("cannot share the file with the VM: ") + std::strerror(errno));
  }
  return link;
}

void collect_from_vm(const std::string& staged, const std::string& target) {
  std::error_code ec;
  if (std::rename(staged.c_str(), target.c_str()) != 0) {
    const int err = errno;
    if (err != EXDEV) {
      fs::remove(staged, ec);
      throw VmError(std::string("cannot store the file: ") + std::strerror(err));
    }
    fs::copy_file(staged, target, ec);
    std::error_code ignored;
    fs::remove(staged, ignored);
    if (ec) {
      fs::remove(target, ignored);
      throw VmError("cannot store the file: " + ec.message());
    }
  }
  if (::chown(target.c_str(), ::geteuid(), ::getegid()) != 0 || ::chmod(target.c_str(), 0600) != 0) {
    const int err = errno;
    fs::remove(target, ec);
    throw VmError(std::string("cannot store the file: ") + std::strerror(err));
  }
}

}  // namespace vmshare::vm
