#include "vm/iso_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace vmshare::vm {

namespace {

constexpr std::string_view kPartialPrefix = ".upload-";
constexpr std::string_view kPartialSuffix = ".part";

bool is_disk_full(int err) { return err == ENOSPC || err == EDQUOT; }

std::string errno_text(int err) { return std::strerror(err); }

std::string random_hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;  // getrandom(2) on Linux
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rd()) & 0xff;
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

bool is_partial_name(std::string_view name) {
  return name.size() > kPartialPrefix.size() + kPartialSuffix.size() && name.starts_with(kPartialPrefix) &&
         name.ends_with(kPartialSuffix);
}

}  // namespace

// ---- IsoStore ----

IsoStore::IsoStore(std::string data_dir, std::uint64_t max_bytes, IsoWriteFunction write_fn)
    : dir_(std::move(data_dir) + "/isos"), max_bytes_(max_bytes), write_(std::move(write_fn)) {
  if (!write_) write_ = [](int fd, const void* data, std::size_t size) { return ::write(fd, data, size); };
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir_).parent_path(), ec);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    throw IsoStoreError("cannot create the ISO folder: " + errno_text(errno));
  // O_NOFOLLOW: a symlink planted in place of the folder is refused, not followed.
  dir_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd_ < 0) throw IsoStoreError("cannot open the ISO folder: " + errno_text(errno));
  if (::fchmod(dir_fd_, 0700) != 0) spdlog::warn("cannot restrict the ISO folder's permissions: {}", errno_text(errno));
  if (auto n = remove_partial_uploads()) spdlog::info("removed {} interrupted ISO upload(s)", n);
}

IsoStore::~IsoStore() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string IsoStore::file_name(std::int64_t user_id) {
  if (user_id <= 0) throw std::invalid_argument("IsoStore: user id must be positive");
  return std::to_string(user_id) + ".iso";
}

std::string IsoStore::path_for(std::int64_t user_id) const { return dir_ + "/" + file_name(user_id); }

bool IsoStore::has_iso(std::int64_t user_id) const {
  struct stat st{};
  return ::fstatat(dir_fd_, file_name(user_id).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

std::uint64_t IsoStore::size_of(std::int64_t user_id) const {
  struct stat st{};
  if (::fstatat(dir_fd_, file_name(user_id).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
    return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

bool IsoStore::remove(std::int64_t user_id) const {
  return ::unlinkat(dir_fd_, file_name(user_id).c_str(), 0) == 0;
}

IsoUpload IsoStore::begin_upload(std::int64_t user_id) const {
  file_name(user_id);  // validates the id before creating anything
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = std::string(kPartialPrefix) + random_hex(16) + std::string(kPartialSuffix);
    int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) return IsoUpload(*this, user_id, fd, std::move(name));
    if (errno == EEXIST) continue;
    if (is_disk_full(errno)) throw IsoStorageFull();
    throw IsoStoreError("cannot create the upload file: " + errno_text(errno));
  }
  throw IsoStoreError("cannot create the upload file: no free temporary name");
}

std::size_t IsoStore::remove_partial_uploads() const {
  int fd = ::dup(dir_fd_);
  if (fd < 0) return 0;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return 0;
  }
  ::rewinddir(d);  // the dup shares its offset with dir_fd_
  std::vector<std::string> partial;
  while (auto* entry = ::readdir(d))
    if (is_partial_name(entry->d_name)) partial.emplace_back(entry->d_name);
  ::closedir(d);
  std::size_t removed = 0;
  for (const auto& name : partial)
    if (::unlinkat(dir_fd_, name.c_str(), 0) == 0) ++removed;
  return removed;
}

// ---- IsoUpload ----

IsoUpload::IsoUpload(const IsoStore& store, std::int64_t user_id, int fd, std::string temp_name)
    : store_(&store), user_id_(user_id), fd_(fd), temp_name_(std::move(temp_name)) {}

IsoUpload::IsoUpload(IsoUpload&& other) noexcept
    : store_(other.store_),
      user_id_(other.user_id_),
      fd_(std::exchange(other.fd_, -1)),
      temp_name_(std::exchange(other.temp_name_, {})),
      size_(other.size_) {
  std::memcpy(signature_, other.signature_, sizeof signature_);
}

IsoUpload& IsoUpload::operator=(IsoUpload&& other) noexcept {
  if (this != &other) {
    abort();
    store_ = other.store_;
    user_id_ = other.user_id_;
    fd_ = std::exchange(other.fd_, -1);
    temp_name_ = std::exchange(other.temp_name_, {});
    size_ = other.size_;
    std::memcpy(signature_, other.signature_, sizeof signature_);
  }
  return *this;
}

IsoUpload::~IsoUpload() { abort(); }

void IsoUpload::abort() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (!temp_name_.empty()) {
    ::unlinkat(store_->dir_fd_, temp_name_.c_str(), 0);
    temp_name_.clear();
  }
}

void IsoUpload::fail_with_errno(int err, const char* what) {
  abort();
  if (is_disk_full(err)) throw IsoStorageFull();
  throw IsoStoreError(std::string(what) + ": " + errno_text(err));
}

void IsoUpload::write(std::string_view data) {
  if (fd_ < 0) throw IsoStoreError("the upload is already finished");
  if (data.size() > store_->max_bytes_ - std::min(size_, store_->max_bytes_)) {
    abort();
    throw IsoTooLarge(store_->max_bytes_);
  }
  // Keep the signature bytes as they pass, so a non-ISO is refused as soon as they arrive.
  constexpr auto kSigStart = IsoStore::kSignatureOffset;
  constexpr auto kSigEnd = kSigStart + IsoStore::kSignature.size();
  const std::uint64_t from = std::max(size_, kSigStart), to = std::min(size_ + data.size(), kSigEnd);
  for (auto off = from; off < to; ++off) signature_[off - kSigStart] = data[off - size_];

  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = store_->write_(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_with_errno(errno, "cannot write the uploaded ISO");
    }
    if (n == 0) fail_with_errno(EIO, "cannot write the uploaded ISO");
    done += static_cast<std::size_t>(n);
  }
  size_ += data.size();
  if (to > from && to == kSigEnd && std::string_view(signature_, sizeof signature_) != IsoStore::kSignature) {
    abort();
    throw IsoInvalid();
  }
}

std::uint64_t IsoUpload::commit() {
  if (fd_ < 0) throw IsoStoreError("the upload is already finished");
  if (size_ < IsoStore::kSignatureOffset + IsoStore::kSignature.size() ||
      std::string_view(signature_, sizeof signature_) != IsoStore::kSignature) {
    abort();
    throw IsoInvalid();
  }
  // Durable before it becomes visible: a crash never leaves a truncated <uid>.iso.
  if (::fsync(fd_) != 0) fail_with_errno(errno, "cannot flush the uploaded ISO");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail_with_errno(errno, "cannot close the uploaded ISO");
  const std::string target = IsoStore::file_name(user_id_);
  if (::renameat(store_->dir_fd_, temp_name_.c_str(), store_->dir_fd_, target.c_str()) != 0)
    fail_with_errno(errno, "cannot store the uploaded ISO");
  temp_name_.clear();
  ::fsync(store_->dir_fd_);  // persist the rename
  return size_;
}

}  // namespace vmshare::vm
