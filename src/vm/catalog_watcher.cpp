#include "vm/catalog_watcher.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

namespace vmshare::vm {

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
          static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

CatalogWatcher::CatalogWatcher(std::string path, Apply apply, std::chrono::milliseconds every)
    : path_(std::move(path)), apply_(std::move(apply)), every_(every), seen_(stamp_of(path_)) {
  thread_ = std::thread([this] { run(); });
}

CatalogWatcher::~CatalogWatcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool CatalogWatcher::poll() {
  const FileStamp now = stamp_of(path_);
  if (now == seen_) return false;
  seen_ = now;
  if (!now.exists) {
    spdlog::warn("catalog: {} is gone; keeping the images loaded before", path_);
    return false;
  }
  try {
    Catalog next = load_catalog(path_);
    const auto count = next.profiles().size();
    apply_(std::move(next));
    spdlog::info("catalog: reloaded {} ({} profile(s))", path_, count);
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("catalog: {} not reloaded, keeping the previous images: {}", path_, e.what());
    return false;
  }
}

void CatalogWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, every_, [this] { return stop_; })) {
    lock.unlock();
    poll();
    lock.lock();
  }
}

}  // namespace vmshare::vm
