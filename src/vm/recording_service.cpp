#include "vm/recording_service.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <cctype>
#include <ctime>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm/host_files.h"
#include "vm/recording_format.h"

namespace vmshare::vm {

namespace fs = std::filesystem;

namespace {

std::string new_recording_id() {
  unsigned char bytes[8];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) throw VmError("cannot name a recording");
  std::string id = "rec-";
  for (auto b : bytes) id += fmt::format("{:02x}", b);
  return id;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// How long a stop waits for the capture to write its last record and be settled.
constexpr std::chrono::seconds kStopWait{10};

}  // namespace

bool plausible_recording_id(const std::string& id) {
  if (id.size() != 20 || id.rfind("rec-", 0) != 0) return false;
  for (std::size_t i = 4; i < id.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(id[i])) || std::isupper(static_cast<unsigned char>(id[i]))) return false;
  return true;
}

RecordingService::RecordingService(std::string data_dir, store::UserStore& users, VmManager& vms, RecordingLimits limits)
    : data_dir_(std::move(data_dir)), users_(users), vms_(vms), limits_(limits) {
  fs::create_directories(data_dir_ + "/recordings");
  ::chmod((data_dir_ + "/recordings").c_str(), 0700);
}

RecordingService::~RecordingService() {
  std::unique_lock lock(mutex_);
  for (auto& [vmid, running] : running_) running->capture->stop();
  finished_.wait_for(lock, kStopWait, [this] { return running_.empty(); });
  if (!running_.empty()) spdlog::warn("recordings: {} did not finish in time; start-up will settle them", running_.size());
}

std::string RecordingService::path_of(const store::RecordingRecord& record) const { return data_dir_ + "/" + record.file; }

store::RecordingRecord RecordingService::start(std::int64_t user_id, const std::string& vmid) {
  auto vm = vms_.find(vmid);
  if (!vm || vm->user_id != user_id) throw VmNotFound("No such VM");
  std::unique_lock lock(mutex_);
  if (auto it = running_.find(vmid); it != running_.end()) return it->second->record;

  store::RecordingRecord record;
  record.id = new_recording_id();
  record.user_id = user_id;
  record.vmid = vmid;
  record.os_type = vm->os_type;
  record.created_at = static_cast<std::int64_t>(std::time(nullptr));
  record.node = vms_.node_id();
  record.file = "recordings/" + std::to_string(user_id) + "/" + record.id + ".vmsrec";
  const auto quota = users_.find_by_id(user_id);
  if (!quota) throw VmNotFound("No such VM");
  record.size_mb = recording_reservation_mb(limits_.max_mb, quota->snapshot_stored, quota->snapshot_storage_capacity);
  if (record.size_mb <= 0)
    throw store::QuotaExceeded(quota->snapshot_stored, quota->snapshot_storage_capacity, limits_.max_mb);
  const std::string dir = data_dir_ + "/recordings/" + std::to_string(user_id);
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);

  users_.reserve_recording(record);  // over quota: nothing written
  const auto path = path_of(record);
  try {
    UniqueFd file = create_exclusive(path);
    UniqueFd vnc = vms_.open_console(vmid);  // vmshare's own connection: no viewer slot, no viewer count
    CaptureOptions options;
    options.caps.max_bytes = static_cast<std::uint64_t>(record.size_mb) << 20;
    options.caps.max_ms = limits_.max_s * 1000;
    options.caps.max_records = recording_record_cap(limits_.max_s);
    options.full_frame_every = limits_.full_frame_every;
    auto running = std::make_shared<Running>();
    running->record = record;
    running_[vmid] = running;
    running->capture = RecordingCapture::start(std::move(vnc), std::move(file), options,
                                               [this, vmid, record](const CaptureResult& r) { finish(vmid, record, r); });
  } catch (...) {
    running_.erase(vmid);
    std::error_code ec;
    fs::remove(path, ec);
    try {
      users_.release_recording(record.id);
    } catch (const std::exception& e) {
      spdlog::error("recording {}: could not give back its reservation: {}", record.id, e.what());
    }
    throw;
  }
  spdlog::info("recording {}: started on VM {} ({} MB reserved)", record.id, vmid, record.size_mb);
  return record;
}

void RecordingService::finish(const std::string& vmid, const store::RecordingRecord& record, const CaptureResult& result) {
  const auto path = path_of(record);
  try {
    if (result.records == 0) {
      // Nothing worth replaying (the VM ended at once, or one frame was over the cap).
      std::error_code ec;
      fs::remove(path, ec);
      users_.release_recording(record.id);
    } else {
      users_.settle_recording(record.id, recording_mb(file_size(path)), result.duration_ms);
    }
  } catch (const std::exception& e) {
    spdlog::error("recording {}: could not settle it ({}); start-up will", record.id, e.what());
  }
  spdlog::info("recording {}: ended ({}) after {} ms, {} records, {} bytes", record.id, result.ended,
               result.duration_ms, result.records, result.bytes);
  std::lock_guard lock(mutex_);
  if (auto it = running_.find(vmid); it != running_.end() && it->second->record.id == record.id) {
    it->second->done = true;
    running_.erase(it);
  }
  finished_.notify_all();
}

void RecordingService::wait_done(std::unique_lock<std::mutex>& lock, const std::string& vmid, std::chrono::seconds timeout) {
  auto running = running_.at(vmid);
  finished_.wait_for(lock, timeout, [&] { return running->done; });
}

std::optional<store::RecordingRecord> RecordingService::stop(std::int64_t user_id, const std::string& vmid) {
  std::unique_lock lock(mutex_);
  auto it = running_.find(vmid);
  if (it == running_.end() || it->second->record.user_id != user_id) return std::nullopt;
  const auto id = it->second->record.id;
  it->second->capture->stop();
  wait_done(lock, vmid, kStopWait);
  lock.unlock();
  return users_.find_recording(user_id, id);
}

std::optional<store::RecordingRecord> RecordingService::active(const std::string& vmid) const {
  std::lock_guard lock(mutex_);
  auto it = running_.find(vmid);
  if (it == running_.end()) return std::nullopt;
  return it->second->record;
}

std::uint64_t RecordingService::bytes_of(const std::string& vmid) const {
  std::lock_guard lock(mutex_);
  auto it = running_.find(vmid);
  return it == running_.end() ? 0 : it->second->capture->bytes();
}

std::vector<store::RecordingRecord> RecordingService::list(std::int64_t user_id) { return users_.list_recordings(user_id); }

store::RecordingRecord RecordingService::get(std::int64_t user_id, const std::string& id) {
  if (!plausible_recording_id(id)) throw RecordingNotFound("No such recording");
  auto record = users_.find_recording(user_id, id);
  if (!record || record->state != "ready") throw RecordingNotFound("No such recording");
  return *record;
}

store::RecordingRecord RecordingService::remove(std::int64_t user_id, const std::string& id) {
  if (!plausible_recording_id(id)) throw RecordingNotFound("No such recording");
  auto record = users_.find_recording(user_id, id);
  if (!record) throw RecordingNotFound("No such recording");
  if (record->state != "ready") throw RecordingInProgress("This recording is still running; turn recording off first");
  auto released = users_.release_recording(id);
  if (!released) throw RecordingNotFound("No such recording");
  std::error_code ec;
  fs::remove(path_of(*released), ec);
  return *released;
}

void RecordingService::reconcile() {
  std::set<std::string> known;
  for (const auto& r : users_.all_recordings()) {
    if (!r.node.empty() && r.node != vms_.node_id()) continue;  // another node's folder
    const auto path = path_of(r);
    if (!fs::exists(path)) {
      users_.release_recording(r.id);
      spdlog::info("recording {}: dropped at start-up (file missing)", r.id);
      continue;
    }
    if (r.state != "ready") {
      std::uint32_t duration = 0;
      try {
        UniqueFd fd = open_regular(path, false);
        duration = read_recording_index(fd.get()).duration_ms();
      } catch (const std::exception&) {
      }
      users_.settle_recording(r.id, recording_mb(file_size(path)), duration);
      spdlog::info("recording {}: settled at start-up (the server stopped while recording)", r.id);
    }
    known.insert(fs::weakly_canonical(path).string());
  }
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(data_dir_ + "/recordings", ec)) {
    if (!entry.is_regular_file()) continue;
    if (!known.count(fs::weakly_canonical(entry.path()).string())) {
      fs::remove(entry.path(), ec);
      spdlog::info("recording: removed a stray file with no record");
    }
  }
}

}  // namespace vmshare::vm
