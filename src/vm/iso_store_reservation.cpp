// IsoStore's admission of uploads: per-user slots, the node-wide cap on stored ISOs, and the
// free-space guard. Everything is decided before a byte of the body is read.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <string_view>
#include <utility>

#include "vm/iso_store.h"

namespace vmshare::vm {

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

std::uint64_t statvfs_free(int fd) {
  struct statvfs st{};
  if (::fstatvfs(fd, &st) != 0) return UINT64_MAX;  // unknown: the write itself will tell
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

// "<digits>.iso": a stored ISO (partial uploads start with a dot).
bool is_stored_iso(std::string_view name) {
  if (name.size() <= 4 || !name.ends_with(".iso")) return false;
  for (char c : name.substr(0, name.size() - 4))
    if (c < '0' || c > '9') return false;
  return true;
}

std::string mb_text(std::uint64_t bytes) { return std::to_string((bytes + kMiB - 1) / kMiB); }

}  // namespace

IsoReservation::IsoReservation(IsoReservation&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)),
      user_id_(other.user_id_),
      bytes_(other.bytes_),
      new_file_(other.new_file_) {}

IsoReservation& IsoReservation::operator=(IsoReservation&& other) noexcept {
  if (this != &other) {
    release();
    store_ = std::exchange(other.store_, nullptr);
    user_id_ = other.user_id_;
    bytes_ = other.bytes_;
    new_file_ = other.new_file_;
  }
  return *this;
}

void IsoReservation::release() noexcept {
  if (store_) std::exchange(store_, nullptr)->give_back(*this);
}

void IsoStore::set_limits(IsoStoreLimits limits, FreeSpaceFunction free_space) {
  std::lock_guard lock(mutex_);
  limits_ = limits;
  free_space_ = free_space ? std::move(free_space) : FreeSpaceFunction(statvfs_free);
}

IsoStoreUsage IsoStore::usage() const {
  IsoStoreUsage out;
  const int fd = ::dup(dir_fd_);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return out;
  }
  ::rewinddir(d);  // the dup shares its offset with dir_fd_
  while (auto* entry = ::readdir(d)) {
    if (!is_stored_iso(entry->d_name)) continue;
    struct stat st{};
    if (::fstatat(dir_fd_, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    out.bytes += static_cast<std::uint64_t>(st.st_size);
    ++out.files;
  }
  ::closedir(d);
  return out;
}

int IsoStore::uploads_in_progress() const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& [_, count] : uploading_) n += count;
  return n;
}

IsoReservation IsoStore::reserve(std::int64_t user_id, std::uint64_t expected_bytes) const {
  file_name(user_id);  // validates the id
  const std::uint64_t own = size_of(user_id);
  const bool has_own = has_iso(user_id);
  // Scanned outside the lock (a directory read); reservations in progress are counted inside.
  const IsoStoreUsage stored = usage();
  std::lock_guard lock(mutex_);
  const auto mine = uploading_.find(user_id);
  if (mine != uploading_.end() && mine->second >= limits_.uploads_per_user)
    throw IsoUploadsBusy(limits_.uploads_per_user);
  // The user's own ISO is replaced by the upload, so it does not count against the cap.
  const std::uint64_t others = stored.bytes - std::min(stored.bytes, own);
  const std::uint64_t files_after = stored.files + reserved_files_ + (has_own ? 0 : 1);
  if (files_after > limits_.max_files) {
    throw IsoStoreFull("This server already stores " + std::to_string(limits_.max_files) +
                       " ISOs (its limit); try again later or ask the operator");
  }
  if (others + reserved_bytes_ + expected_bytes > limits_.max_total_bytes) {
    throw IsoStoreFull("This server's ISO storage is full (" + mb_text(others + reserved_bytes_) + " of " +
                       mb_text(limits_.max_total_bytes) + " MB used, this upload may need " +
                       mb_text(expected_bytes) + " MB); try again later or ask the operator");
  }
  const std::uint64_t free = free_space_ ? free_space_(dir_fd_) : UINT64_MAX;
  // Uploads in progress have not written all they may yet: keep room for them too.
  if (free < limits_.min_free_bytes || free - limits_.min_free_bytes < reserved_bytes_ + expected_bytes) {
    throw IsoStorageFull();
  }
  ++uploading_[user_id];
  reserved_bytes_ += expected_bytes;
  if (!has_own) ++reserved_files_;
  return IsoReservation(this, user_id, expected_bytes, !has_own);
}

void IsoStore::give_back(const IsoReservation& r) const noexcept {
  std::lock_guard lock(mutex_);
  if (auto it = uploading_.find(r.user_id_); it != uploading_.end() && --it->second <= 0) uploading_.erase(it);
  reserved_bytes_ -= std::min(reserved_bytes_, r.bytes_);
  if (r.new_file_ && reserved_files_ > 0) --reserved_files_;
}

}  // namespace vmshare::vm
