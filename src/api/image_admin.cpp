#include "api/image_admin.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "vm/image_tool.h"
#include "vm/profile_usage.h"

namespace vmshare::api {

namespace fs = std::filesystem;

namespace {

struct AdminError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Held for a whole add or remove: the read, the copy and the write of the catalog.
class CatalogLock {
 public:
  explicit CatalogLock(const std::string& catalog) {
    const std::string path = catalog + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw AdminError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    if (::flock(fd_, LOCK_EX) != 0) throw AdminError(fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
  }
  ~CatalogLock() { ::close(fd_); }
  CatalogLock(const CatalogLock&) = delete;
  CatalogLock& operator=(const CatalogLock&) = delete;

 private:
  int fd_ = -1;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return {};
    throw AdminError("cannot read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Temporary file in the same folder, flushed, then renamed over the catalog: a reader sees the
// old file or the new one, never part of one.
void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw AdminError(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fchmod(fd, 0644) == 0 && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw AdminError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  fsync_dir(fs::path(path).parent_path());
}

// ISO 9660: "CD001" at byte 32769 (the first volume descriptor). qemu-img calls it raw.
bool is_iso(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[5] = {};
  const bool iso = ::pread(fd, magic, 5, 32769) == 5 && std::memcmp(magic, "CD001", 5) == 0;
  ::close(fd);
  return iso;
}

// Files made in the store; removed again unless the command succeeds.
struct StoreFiles {
  std::vector<std::string> paths;
  bool keep = false;
  ~StoreFiles() {
    if (keep) return;
    std::error_code ec;
    for (const auto& p : paths) fs::remove(p, ec);
  }
};

std::string tmp_name(const std::string& final_path) {
  const fs::path p(final_path);
  return (p.parent_path() / ("." + p.filename().string() + ".tmp")).string();
}

// Moves a finished temporary into place, read-only for everyone (QEMU only ever reads a base,
// and a confined QEMU opens a kernel by path).
void publish(const std::string& tmp, const std::string& final_path, StoreFiles& made) {
  std::error_code ec;
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read, ec);
  if (ec || ::rename(tmp.c_str(), final_path.c_str()) != 0)
    throw AdminError(fmt::format("cannot store {}: {}", final_path, ec ? ec.message() : std::strerror(errno)));
  made.paths.push_back(final_path);
}

void copy_into_store(const std::string& src, const std::string& dst, StoreFiles& made) {
  if (!fs::is_regular_file(src)) throw AdminError(src + ": not a regular file");
  const std::string tmp = tmp_name(dst);
  made.paths.push_back(tmp);
  std::error_code ec;
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) throw AdminError(fmt::format("cannot copy {}: {}", src, ec.message()));
  publish(tmp, dst, made);
}

void check_standalone(const std::string& what, const vm::ImageInfo& info) {
  if (!info.backing_filename.empty())
    throw AdminError(what + " has a backing file: give a standalone image (qemu-img convert -O qcow2 folds it in)");
  if (!info.data_file.empty()) throw AdminError(what + " has an external data file: give a standalone image");
  if (info.virtual_size == 0) throw AdminError(what + " reports no virtual size");
}

// A qcow2 or raw disk, converted to a standalone qcow2 in the store. Returns its virtual size.
std::uint64_t import_disk(const Config& config, const std::string& src, const std::string& dst, StoreFiles& made) {
  const vm::ImageTool tool(config.qemu_img);
  const auto info = tool.image_info(src);
  if (info.format != "qcow2" && info.format != "raw")
    throw AdminError(fmt::format("{}: format {} is not supported: give a qcow2 or raw disk, or an ISO", src, info.format));
  check_standalone(src, info);
  const std::string tmp = tmp_name(dst);
  made.paths.push_back(tmp);
  tool.flatten(src, tmp, info.format);
  const auto stored = tool.image_info(tmp, "qcow2");
  check_standalone(dst, stored);
  publish(tmp, dst, made);
  return stored.virtual_size;
}

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

// Copies what the request names into the store and returns the profile that boots it.
vm::Profile stage_files(const Config& config, const vm::ImageAddRequest& r, const fs::path& store, StoreFiles& made) {
  vm::Profile p;
  p.name = r.name;
  p.title = r.title.empty() ? r.name : r.title;
  p.memory_mb = r.memory_mb;
  p.cpus = r.cpus;
  p.kind = r.kind;
  p.append = r.append;
  const std::string stem = (store / fmt::format("{}-{}", r.name, std::time(nullptr))).string();
  if (!r.file.empty()) {
    if (!fs::exists(r.file)) throw AdminError(r.file + ": no such file");
    if (is_iso(r.file)) {
      if (!r.kernel.empty()) throw AdminError("an ISO boots by itself: give --kernel only with a disk image or alone");
      p.iso = stem + ".iso";
      copy_into_store(r.file, p.iso, made);
      std::cout << "stored the ISO as " << p.iso << " (VMs boot it read-only with a blank 8 GiB disk)\n";
    } else {
      p.base_image = stem + ".qcow2";
      const auto size = import_disk(config, r.file, p.base_image, made);
      std::cout << "stored the disk as " << p.base_image << " (virtual size " << (size >> 20) << " MiB)\n";
    }
  }
  if (!r.kernel.empty()) {
    p.kernel = stem + ".kernel";
    copy_into_store(absolute(r.kernel), p.kernel, made);
    if (!r.initrd.empty()) {
      p.initrd = stem + ".initrd";
      copy_into_store(absolute(r.initrd), p.initrd, made);
    }
  }
  return p;
}

std::string boots_from(const vm::Profile& p) {
  if (!p.iso.empty()) return "iso " + p.iso;
  std::string s = p.base_image.empty() ? "blank disk" : "disk " + p.base_image;
  if (!p.kernel.empty()) s += ", kernel " + p.kernel;
  return s;
}

int report(const std::exception& e) {
  std::cerr << "vmshare: " << e.what() << "\n";
  return 1;
}

}  // namespace

std::string catalog_path(const Config& config) {
  return config.images.empty() ? config.data_dir + "/images/catalog.json" : config.images;
}

int admin_image_add(const Config& config, const vm::ImageAddRequest& request) {
  try {
    vm::validate_image_add(request);
    const std::string catalog = absolute(catalog_path(config));
    const fs::path store = fs::path(catalog).parent_path();
    fs::create_directories(store);
    CatalogLock lock(catalog);
    const std::string before = read_text(catalog);
    // The name is checked before anything is copied: a long conversion must not end in a refusal.
    if (!before.empty() && vm::parse_catalog(before).find(request.name))
      throw AdminError(fmt::format("image \"{}\" is already in the catalog (vmshare image remove {} first)",
                                   request.name, request.name));
    StoreFiles made;
    const auto profile = stage_files(config, request, store, made);
    write_atomically(catalog, vm::catalog_with_profile(before, profile));
    made.keep = true;
    std::cout << "added image " << profile.name << " (" << profile.memory_mb << " MiB, " << profile.cpus
              << " CPU): " << boots_from(profile) << "\n";
    return 0;
  } catch (const vm::ImageError& e) {
    std::cerr << "vmshare: " << e.what() << (e.detail.empty() ? "" : ": " + e.detail) << "\n";
    return 1;
  } catch (const std::exception& e) {
    return report(e);
  }
}

int admin_image_list(const Config& config) {
  try {
    const std::string catalog = catalog_path(config);
    const std::string text = read_text(catalog);
    if (text.empty()) {
      std::cout << "no catalog at " << catalog << "\n";
      return 0;
    }
    const auto parsed = vm::parse_catalog(text);
    const std::string vms_dir = config.data_dir + "/vms";
    std::cout << fmt::format("{:<20} {:>7} {:>4} {:<8} {:>4}  {}\n", "NAME", "MEMORY", "CPUS", "KIND", "VMS", "BOOTS");
    for (const auto& p : parsed.profiles())
      std::cout << fmt::format("{:<20} {:>7} {:>4} {:<8} {:>4}  {}\n", p.name, std::to_string(p.memory_mb) + "M",
                               p.cpus, p.kind, vm::vms_using_profile(vms_dir, p).size(), boots_from(p));
    return 0;
  } catch (const std::exception& e) {
    return report(e);
  }
}

int admin_image_remove(const Config& config, const std::string& name) {
  try {
    const std::string catalog = absolute(catalog_path(config));
    CatalogLock lock(catalog);
    const std::string before = read_text(catalog);
    const std::string after = vm::catalog_without_profile(before, name);
    const vm::Profile profile = *vm::parse_catalog(before).find(name);
    const std::string vms_dir = config.data_dir + "/vms";
    if (auto users = vm::vms_using_profile(vms_dir, profile); !users.empty())
      throw AdminError(fmt::format("image {} is in use by {} running VM(s) ({}); stop them first", name,
                                   users.size(), fmt::join(users, ", ")));
    write_atomically(catalog, after);
    // A launch that read the old catalog just before the write may have started since: its
    // files then stay (the server still boots from them); the operator removes them later.
    const bool raced = !vm::vms_using_profile(vms_dir, profile).empty();
    const fs::path store = fs::path(catalog).parent_path();
    int removed = 0;
    for (const auto* f : {&profile.base_image, &profile.iso, &profile.kernel, &profile.initrd}) {
      std::error_code ec;
      // Only files `image add` stored are vmshare's to delete (<store>/<name>-<time>.*); a
      // catalog written by hand or by a build script may name others.
      const fs::path file(*f);
      if (f->empty() || raced || file.parent_path() != store || file.filename().string().rfind(name + "-", 0) != 0)
        continue;
      if (fs::remove(*f, ec)) ++removed;
    }
    std::cout << "removed image " << name << " from the catalog"
              << (raced ? "; a VM started from it meanwhile, so its files were kept"
                        : fmt::format(" and {} file(s) from {}", removed, store.string()))
              << "\n";
    return 0;
  } catch (const std::exception& e) {
    return report(e);
  }
}

}  // namespace vmshare::api
