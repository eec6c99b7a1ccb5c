#pragma once
// Hot reload of the image catalog: a thread looks at the file's identity (inode, size, mtime)
// once a second and, when it changed, parses it again. A catalog that parses is handed to
// `apply` (VmManager::replace_catalog swaps a shared_ptr, so launches in flight keep the profile
// they started with and running VMs of a removed profile keep running); one that does not is
// logged with the reason and the previous catalog stays. Polling, not inotify: `vmshare image`
// and editors replace the file by rename, which a watch on the file itself would lose, and one
// stat a second costs nothing.
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "vm/catalog.h"

namespace vmshare::vm {

// What says "the file changed" without reading it. Pure comparison.
struct FileStamp {
  bool exists = false;
  unsigned long long inode = 0, size = 0;
  long long mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_of(const std::string& path);

class CatalogWatcher {
 public:
  using Apply = std::function<void(Catalog)>;
  // `path` is the file the server loaded at start-up (its stamp now is the baseline).
  CatalogWatcher(std::string path, Apply apply, std::chrono::milliseconds every = std::chrono::seconds(1));
  ~CatalogWatcher();
  CatalogWatcher(const CatalogWatcher&) = delete;
  CatalogWatcher& operator=(const CatalogWatcher&) = delete;

  // One look at the file (the thread calls it; tests too). True when a new catalog was applied.
  bool poll();

 private:
  void run();
  std::string path_;
  Apply apply_;
  std::chrono::milliseconds every_;
  FileStamp seen_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vmshare::vm
