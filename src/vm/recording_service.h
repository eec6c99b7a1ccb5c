#pragma once
// Console recordings (issue 15): turning a VM's recording on and off, the files and the quota
// they charge, listing and removal. Files live in <data>/recordings/<user_id>/<id>.vmsrec,
// vmshare's own folder (0700; files 0600, created O_EXCL|O_NOFOLLOW, named by the server); the
// database says who owns what. Quota: the size cap (or what is left of the owner's quota, if
// less) is reserved before the first byte is written, and settled to the file's real size when
// the recording ends, the snapshots' pattern. A recording ends when turned off, at its size or
// length cap, or when the VM ends (QEMU closes the connection).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/user_store.h"
#include "vm/errors.h"
#include "vm/recording_capture.h"
#include "vm/vm_manager.h"

namespace vmshare::vm {

struct RecordingNotFound : VmError {  // 404: unknown, another user's, or still being recorded
  using VmError::VmError;
};
struct RecordingInProgress : VmError {  // 409: turn it off first
  using VmError::VmError;
};

struct RecordingLimits {
  std::int64_t max_mb = 64;
  std::uint32_t max_s = 3600;
  std::chrono::milliseconds full_frame_every{10000};
};

class RecordingService {
 public:
  RecordingService(std::string data_dir, store::UserStore& users, VmManager& vms, RecordingLimits limits);
  // Ends every recording in progress and waits (bounded) for each to be settled.
  ~RecordingService();
  RecordingService(const RecordingService&) = delete;
  RecordingService& operator=(const RecordingService&) = delete;

  // Starts recording the user's VM; the running recording when there is one. Blocking.
  // Throws VmNotFound, store::QuotaExceeded (nothing written).
  store::RecordingRecord start(std::int64_t user_id, const std::string& vmid);
  // Ends the VM's recording and waits until it is settled; nullopt when none was running.
  std::optional<store::RecordingRecord> stop(std::int64_t user_id, const std::string& vmid);
  // The recording in progress on a VM, if any (bytes so far in size_mb's place: see bytes_of).
  std::optional<store::RecordingRecord> active(const std::string& vmid) const;
  std::uint64_t bytes_of(const std::string& vmid) const;

  std::vector<store::RecordingRecord> list(std::int64_t user_id);
  // The user's finished recording; RecordingNotFound otherwise (crafted ids included).
  store::RecordingRecord get(std::int64_t user_id, const std::string& id);
  // RecordingNotFound, or RecordingInProgress while it is being recorded.
  store::RecordingRecord remove(std::int64_t user_id, const std::string& id);
  std::string path_of(const store::RecordingRecord& record) const;

  // Start-up: a record left 'recording' by a crash is settled to its file (whole records only
  // are replayed) or dropped when the file is gone; a file without a record is deleted.
  void reconcile();

 private:
  struct Running {
    store::RecordingRecord record;
    std::shared_ptr<RecordingCapture> capture;
    bool done = false;
  };
  void finish(const std::string& vmid, const store::RecordingRecord& record, const CaptureResult& result);
  void wait_done(std::unique_lock<std::mutex>& lock, const std::string& vmid, std::chrono::seconds timeout);

  std::string data_dir_;
  store::UserStore& users_;
  VmManager& vms_;
  RecordingLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::map<std::string, std::shared_ptr<Running>> running_;  // by vmid
};

// rec-<16 lowercase hex>: anything else is nobody's recording.
bool plausible_recording_id(const std::string& id);

}  // namespace vmshare::vm
