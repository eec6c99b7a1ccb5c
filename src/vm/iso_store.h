#pragma once
// Where users' uploaded ISOs live: <data_dir>/isos/<user_id>.iso (folder 0700, files 0600), one
// per user. An upload streams into a server-named temporary file, created exclusively, and only
// a complete, size-checked ISO 9660 image is renamed over the user's ISO; every failure removes
// the temporary file. Client-chosen file names are never used on disk.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "vm/errors.h"

namespace vmshare::vm {

// The upload exceeds the store's maximum size.
struct IsoTooLarge : VmError {
  std::uint64_t max_bytes;
  explicit IsoTooLarge(std::uint64_t max)
      : VmError("ISO larger than the limit of " + std::to_string(max) + " bytes"), max_bytes(max) {}
};

// The data is not an ISO 9660 image (no "CD001" at byte 0x8001).
struct IsoInvalid : VmError {
  IsoInvalid() : VmError("The file is not an ISO 9660 image") {}
};

// The disk (or quota) holding the data folder is full.
struct IsoStorageFull : VmError {
  IsoStorageFull() : VmError("Not enough disk space on the server to store the ISO") {}
};

// The user already has UPLOADS_PER_USER uploads in progress.
struct IsoUploadsBusy : VmError {
  explicit IsoUploadsBusy(int limit)
      : VmError(limit == 1 ? "You already have an ISO upload in progress; wait for it to finish"
                           : "You already have " + std::to_string(limit) +
                                 " ISO uploads in progress (the limit); wait for one to finish") {}
};

// This node's ISO folder is at its cap (ISO_STORE_MAX_MB or ISO_STORE_MAX_FILES).
struct IsoStoreFull : VmError {
  using VmError::VmError;
};

// Any other I/O failure; what() carries the errno text but never a path.
struct IsoStoreError : VmError {
  using VmError::VmError;
};

// Test seam: replaces ::write for upload data, to inject ENOSPC or short writes.
using IsoWriteFunction = std::function<ssize_t(int fd, const void* data, std::size_t size)>;

class IsoStore;

// Node-wide limits on what the ISO folder may hold; checked when an upload starts.
struct IsoStoreLimits {
  int uploads_per_user = 1;
  std::uint64_t max_total_bytes = UINT64_MAX;  // all stored ISOs, uploads in progress included
  std::uint64_t max_files = UINT64_MAX;
  std::uint64_t min_free_bytes = 0;  // free space the data folder's filesystem keeps
};

// Stored ISOs on this node: what the folder holds (uploads in progress not included).
struct IsoStoreUsage {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

// Free bytes for unprivileged writers on the filesystem holding `fd` (statvfs f_bavail).
using FreeSpaceFunction = std::function<std::uint64_t(int fd)>;

// Room for one upload: the user's upload slot and the bytes it may write, held from before
// the body is read until the upload ends. Move-only; destroying it gives both back.
class IsoReservation {
 public:
  IsoReservation() = default;
  IsoReservation(IsoReservation&& other) noexcept;
  IsoReservation& operator=(IsoReservation&& other) noexcept;
  IsoReservation(const IsoReservation&) = delete;
  IsoReservation& operator=(const IsoReservation&) = delete;
  ~IsoReservation() { release(); }
  void release() noexcept;

 private:
  friend class IsoStore;
  IsoReservation(const IsoStore* store, std::int64_t user_id, std::uint64_t bytes, bool new_file)
      : store_(store), user_id_(user_id), bytes_(bytes), new_file_(new_file) {}
  const IsoStore* store_ = nullptr;
  std::int64_t user_id_ = 0;
  std::uint64_t bytes_ = 0;
  bool new_file_ = false;
};

// One upload in progress. Move-only; destroying it without commit() removes the partial file
// (an interrupted upload leaves nothing behind). Not thread-safe: one thread per upload.
class IsoUpload {
 public:
  IsoUpload(IsoUpload&& other) noexcept;
  IsoUpload& operator=(IsoUpload&& other) noexcept;
  IsoUpload(const IsoUpload&) = delete;
  IsoUpload& operator=(const IsoUpload&) = delete;
  ~IsoUpload();

  // Appends data. Throws IsoTooLarge (before writing past the limit), IsoInvalid (as soon as
  // the signature bytes have arrived and are wrong), IsoStorageFull or IsoStoreError; after a
  // throw the partial file is already gone.
  void write(std::string_view data);
  std::uint64_t size() const { return size_; }

  // Checks the ISO 9660 signature, fsyncs and renames over the user's ISO atomically; returns
  // the size. Throws like write() (IsoInvalid for a short or unsigned file).
  std::uint64_t commit();

  // Removes the partial file; idempotent.
  void abort() noexcept;

 private:
  friend class IsoStore;
  IsoUpload(const IsoStore& store, std::int64_t user_id, int fd, std::string temp_name);
  [[noreturn]] void fail_with_errno(int err, const char* what);

  const IsoStore* store_ = nullptr;
  std::int64_t user_id_ = 0;
  int fd_ = -1;
  std::string temp_name_;  // relative to the store's folder
  std::uint64_t size_ = 0;
  char signature_[5] = {};
};

class IsoStore {
 public:
  // Creates <data_dir>/isos (0700; a symlink there is refused) and removes partial uploads
  // left by a crash. Throws IsoStoreError.
  IsoStore(std::string data_dir, std::uint64_t max_bytes, IsoWriteFunction write_fn = {});
  ~IsoStore();
  IsoStore(const IsoStore&) = delete;
  IsoStore& operator=(const IsoStore&) = delete;

  static constexpr std::uint64_t kSignatureOffset = 0x8001;  // "CD001" of the volume descriptor at sector 16
  static constexpr std::string_view kSignature = "CD001";

  std::uint64_t max_bytes() const { return max_bytes_; }
  const std::string& dir() const { return dir_; }
  // The user's ISO path (for QEMU; never show it to users). user_id must be positive.
  std::string path_for(std::int64_t user_id) const;
  bool has_iso(std::int64_t user_id) const;
  std::uint64_t size_of(std::int64_t user_id) const;  // 0 when there is none
  bool remove(std::int64_t user_id) const;            // true if an ISO was removed

  // Starts an upload into a fresh "<isos>/.upload-<random>.part" (O_EXCL|O_NOFOLLOW, 0600).
  IsoUpload begin_upload(std::int64_t user_id) const;

  // Removes ".upload-*.part" files; returns how many. Run at construction.
  std::size_t remove_partial_uploads() const;

  void set_limits(IsoStoreLimits limits, FreeSpaceFunction free_space = {});
  // Admits an upload of at most `expected_bytes` by the user, before any of it is read. Throws
  // IsoUploadsBusy (the user's slots are taken), IsoStoreFull (the node's cap would be passed:
  // stored ISOs other than the user's own, which the upload replaces, plus uploads in
  // progress) or IsoStorageFull (less than min_free_bytes would stay free).
  IsoReservation reserve(std::int64_t user_id, std::uint64_t expected_bytes) const;
  IsoStoreUsage usage() const;
  int uploads_in_progress() const;

 private:
  friend class IsoUpload;
  friend class IsoReservation;
  static std::string file_name(std::int64_t user_id);
  void give_back(const IsoReservation& r) const noexcept;

  std::string dir_;
  int dir_fd_ = -1;
  std::uint64_t max_bytes_;
  IsoWriteFunction write_;

  IsoStoreLimits limits_;
  FreeSpaceFunction free_space_;
  mutable std::mutex mutex_;  // guards the reservations below
  mutable std::map<std::int64_t, int> uploading_;  // user -> uploads in progress
  mutable std::uint64_t reserved_bytes_ = 0;
  mutable std::uint64_t reserved_files_ = 0;  // uploads by users with no stored ISO yet
};

}  // namespace vmshare::vm
