#include "vm/usb_drop_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "vm/host_files.h"
#include "vm/usb_drop_rules.h"
#include "vm/vm_record.h"

namespace vmshare::vm {

namespace fs = std::filesystem;

namespace {

// Reading back stops after this long, whatever is left (each mtools run has its own limit too).
constexpr auto kReadBackBudget = std::chrono::seconds(60);

[[noreturn]] void fail_io(const char* what, int err) {
  if (err == ENOSPC || err == EDQUOT) throw DropStorageFull();
  throw DropStickError(fmt::format("{}: {}", what, std::strerror(err)));
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_io("cannot write a dropped file", n < 0 ? errno : EIO);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) fail_io("cannot create a folder for dropped files", errno);
}

// A plugged stick's description, in its own folder (vmshare's, never the VM's): what a restarted
// vmshare needs to take it back (usb_drop_service.h).
constexpr const char* kStickFile = "/stick.json";
constexpr const char* kUsbDropKind = "usb-drop";  // the quota record's os_type

nlohmann::json files_to_json(const std::vector<DropFile>& files) {
  auto out = nlohmann::json::array();
  for (const auto& f : files) out.push_back({{"name", f.name}, {"size", f.size}});
  return out;
}

}  // namespace

struct UsbDropService::Stick {
  enum class State { receiving, plugged, ejecting, ejected };
  std::int64_t user_id = 0;
  std::string vmid;
  std::string dir;     // absolute, vmshare's own
  std::string record;  // the quota record's name; empty until reserved
  std::uint64_t bytes = 0;
  std::int64_t mb = 0;
  // Under the service's mutex.
  State state = State::receiving;
  bool vm_ended = false;  // the VM ended while an operation ran: that operation discards it
  bool discarded = false;
  VmManager::UsbStick plugged;
  std::vector<DropFile> dropped, returned;
  std::size_t skipped = 0;
};

UsbDropService::UsbDropService(std::string data_dir, store::UserStore& users, VmManager& vms, DropLimits limits)
    : drops_dir_(fs::absolute(data_dir).lexically_normal().string() + "/drops"), users_(users), vms_(vms),
      limits_(limits) {
  std::error_code ec;
  fs::create_directories(drops_dir_, ec);
  struct stat st {};
  if (::lstat(drops_dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw DropStickError("the folder for dropped files is missing or not a folder");
  ::chmod(drops_dir_.c_str(), 0700);
  if (!vms_.confined())
    spdlog::warn("USB sticks: QEMU is not confined (VMSHARE_CONFINE), so mtools reads the sticks guests wrote as "
                 "vmshare's own user, with no capabilities, no_new_privs and resource limits only");
}

UsbDropService::~UsbDropService() = default;

// ---- admission ----

UsbDropService::Upload UsbDropService::begin(std::int64_t user_id, std::optional<std::uint64_t> max_payload) {
  const auto vm = vms_.vm_of_user(user_id);
  if (!vm) throw VmNotFound("You have no running VM");
  const std::uint64_t budget = max_payload ? *max_payload : drop_payload_budget(limits_.max_stick_bytes, limits_.max_files);
  const std::uint64_t bytes = drop_stick_bytes(budget, limits_.max_files, limits_.max_stick_bytes);
  if (bytes == 0) throw DropTooLarge(limits_.max_stick_bytes);

  auto stick = std::make_shared<Stick>();
  stick->user_id = user_id;
  stick->vmid = vm->vmid;
  stick->bytes = bytes;
  stick->mb = drop_stick_mb(bytes);
  const std::string tag = vm->vmid + "-" + new_vmid().substr(0, 8);
  stick->dir = drops_dir_ + "/" + tag;
  std::shared_ptr<Stick> previous;
  {
    std::lock_guard lock(mutex_);
    if (auto it = by_vm_.find(vm->vmid); it != by_vm_.end()) {
      if (it->second->state != Stick::State::ejected)
        throw DropBusy("A USB stick is already plugged into your VM; eject it before dropping more files");
      previous = it->second;
    }
    by_vm_[vm->vmid] = stick;
  }
  if (previous) discard(previous);  // the new stick replaces it and the files it brought back
  Upload upload(*this, stick, budget);  // from here on, a throw discards the stick
  store::SnapshotRecord record;
  record.name = fmt::format("{}__usb-drop__{}.img", user_id, tag);
  record.user_id = user_id;
  record.os_type = kUsbDropKind;
  record.vmid = vm->vmid;
  record.size_mb = stick->mb;
  record.created_at = static_cast<std::int64_t>(std::time(nullptr));
  record.file = "drops/" + tag + "/stick.img";
  record.node = vms_.node_id();
  try {
    users_.reserve_snapshot(record);
  } catch (const store::QuotaExceeded& e) {
    throw DropOverQuota(e.stored, e.capacity, stick->mb);
  }
  stick->record = record.name;
  make_dir(stick->dir);
  make_dir(stick->dir + "/in");
  return upload;
}

// ---- the upload ----

UsbDropService::Upload::Upload(UsbDropService& service, std::shared_ptr<Stick> stick, std::uint64_t budget)
    : service_(&service), stick_(std::move(stick)), budget_(budget) {}

UsbDropService::Upload::Upload(Upload&& o) noexcept
    : service_(o.service_),
      stick_(std::move(o.stick_)),
      budget_(o.budget_),
      written_(o.written_),
      file_(std::move(o.file_)),
      taken_(std::move(o.taken_)),
      committed_(o.committed_) {}

UsbDropService::Upload::~Upload() {
  file_.reset();
  if (stick_ && !committed_) service_->discard(stick_);
}

void UsbDropService::Upload::begin_file(std::string_view client_name) {
  end_file();
  if (stick_->dropped.size() >= service_->limits_.max_files)
    throw DropInvalid(fmt::format("At most {} files per drop", service_->limits_.max_files));
  const auto name = unique_drop_name(sanitize_drop_name(client_name), taken_);
  file_ = create_exclusive(stick_->dir + "/in/" + name);
  stick_->dropped.push_back({name, 0});
}

void UsbDropService::Upload::write(std::string_view data) {
  if (!file_) return;
  if (data.size() > budget_ - written_) throw DropTooLarge(service_->limits_.max_stick_bytes);
  write_all(file_.get(), data);
  written_ += data.size();
  stick_->dropped.back().size += data.size();
}

void UsbDropService::Upload::end_file() { file_.reset(); }

DropPlugged UsbDropService::Upload::commit() {
  end_file();
  if (stick_->dropped.empty()) throw DropInvalid("No files in the upload (multipart field \"files\")");
  auto& stick = *stick_;
  const std::string image = stick.dir + "/stick.img";
  {
    UniqueFd fd = create_exclusive(image);
    if (::ftruncate(fd.get(), static_cast<off_t>(stick.bytes)) != 0) fail_io("cannot size the USB stick", errno);
  }
  service_->tool_.format(image, stick.bytes);
  std::vector<std::string> sources;
  for (const auto& f : stick.dropped) sources.push_back(stick.dir + "/in/" + f.name);
  service_->tool_.copy_in(image, sources);
  std::error_code ec;
  fs::remove_all(stick.dir + "/in", ec);

  UniqueFd fd = open_regular(image, true);  // O_RDWR|O_NOFOLLOW, a regular file
  {
    std::lock_guard lock(service_->mutex_);
    if (stick.vm_ended) throw VmNotFound("Your VM has stopped");
  }
  auto plugged = service_->vms_.plug_usb_stick(stick.vmid, fd.get(), "drop-" + new_vmid().substr(0, 10));
  {
    std::lock_guard lock(service_->mutex_);
    stick.plugged = plugged;
    stick.state = Stick::State::plugged;
    committed_ = !stick.vm_ended;
  }
  if (!committed_) throw VmNotFound("Your VM has stopped");
  service_->remember(stick);
  spdlog::info("vm {}: {} file(s), {} bytes, dropped on a {} MB USB stick", stick.vmid, stick.dropped.size(), written_,
               stick.mb);
  return DropPlugged{stick.dropped, stick.bytes, stick.mb};
}

// ---- eject and read back ----

std::shared_ptr<UsbDropService::Stick> UsbDropService::stick_of_user(std::int64_t user_id, const char* none) {
  const auto vm = vms_.vm_of_user(user_id);
  if (!vm) throw VmNotFound("You have no running VM");
  std::lock_guard lock(mutex_);
  auto it = by_vm_.find(vm->vmid);
  if (it == by_vm_.end() || it->second->user_id != user_id) throw DropNotFound(none);
  return it->second;
}

DropEjected UsbDropService::eject(std::int64_t user_id) {
  auto stick = stick_of_user(user_id, "No USB stick is plugged into your VM");
  {
    std::lock_guard lock(mutex_);
    if (stick->state == Stick::State::ejected) return {stick->returned, stick->skipped};
    if (stick->state != Stick::State::plugged)
      throw DropBusy("The USB stick is being made or ejected; try again in a moment");
    stick->state = Stick::State::ejecting;
  }
  try {
    vms_.unplug_usb_stick(stick->vmid, stick->plugged);
  } catch (...) {
    bool ended;
    {
      std::lock_guard lock(mutex_);
      stick->state = Stick::State::plugged;
      ended = stick->vm_ended;
    }
    if (ended) discard(stick);
    throw;
  }
  // QEMU no longer has the image: what is on it can be read without the guest changing it. From
  // here a restart forgets the stick (nothing of it is left in QEMU to eject).
  ::unlink((stick->dir + kStickFile).c_str());
  DropEjected result;
  try {
    result = read_back(*stick);
  } catch (const std::exception& e) {
    spdlog::warn("vm {}: the USB stick could not be read back: {}", stick->vmid, e.what());
    result.skipped += 1;
  }
  bool ended;
  {
    std::lock_guard lock(mutex_);
    stick->returned = result.files;
    stick->skipped = result.skipped;
    stick->state = Stick::State::ejected;
    ended = stick->vm_ended;
  }
  if (ended) discard(stick);
  return result;
}

DropEjected UsbDropService::read_back(Stick& stick) {
  DropEjected out;
  const std::string image = stick.dir + "/stick.img";
  make_dir(stick.dir + "/out");
  const auto deadline = std::chrono::steady_clock::now() + kReadBackBudget;
  // The guest's bytes are parsed only by a confined mtools, as the VM's own uid, from a sealed
  // copy (usb_drop_sandbox.h). The VM ended: no uid is its any more, and nothing is read.
  const auto uid = vms_.confined_uid(stick.vmid);
  if (vms_.confined() && !uid) throw VmNotFound("Your VM has stopped");
  const auto sandbox = tool_.sandbox_for(uid);
  const UniqueFd copy = DropImageTool::sealed_copy(image, stick.bytes);
  // A file system holds no more than its image: more is a damaged or crafted one.
  std::uint64_t left = stick.bytes;
  std::set<std::string> taken;
  for (const auto& name : tool_.list(copy.get(), sandbox)) {
    if (out.files.size() >= limits_.max_files || !fetchable_stick_name(name) ||
        std::chrono::steady_clock::now() > deadline) {
      ++out.skipped;
      continue;
    }
    std::string data;
    try {
      data = tool_.read(copy.get(), sandbox, name, static_cast<std::size_t>(left));
    } catch (const DropStickError& e) {
      spdlog::info("vm {}: a file on the USB stick was skipped: {}", stick.vmid, e.what());
      ++out.skipped;
      continue;
    }
    left -= data.size();
    const auto safe = unique_drop_name(sanitize_drop_name(name), taken);
    UniqueFd fd = create_exclusive(stick.dir + "/out/" + safe);
    write_all(fd.get(), data);
    out.files.push_back({safe, data.size()});
  }
  std::error_code ec;
  fs::remove(image, ec);  // its files are out; the quota stays charged until the stick is discarded
  spdlog::info("vm {}: USB stick ejected, {} file(s) read back, {} skipped", stick.vmid, out.files.size(), out.skipped);
  return out;
}

// ---- listing ----

DropStatus UsbDropService::status(std::int64_t user_id) {
  DropStatus out;
  const auto vm = vms_.vm_of_user(user_id);
  if (!vm) return out;
  out.vmid = vm->vmid;
  std::lock_guard lock(mutex_);
  auto it = by_vm_.find(vm->vmid);
  if (it == by_vm_.end() || it->second->user_id != user_id) return out;
  const auto& s = *it->second;
  out.state = s.state == Stick::State::plugged ? "plugged" : s.state == Stick::State::ejected ? "ejected" : "busy";
  out.dropped = s.dropped;
  out.returned = s.returned;
  return out;
}

std::vector<DropFile> UsbDropService::returned_files(std::int64_t user_id) {
  auto stick = stick_of_user(user_id, "No files came back from a USB stick; eject one first");
  std::lock_guard lock(mutex_);
  if (stick->state != Stick::State::ejected)
    throw DropBusy("The USB stick is still plugged into the VM; eject it first");
  return stick->returned;
}

std::string UsbDropService::returned_file_path(std::int64_t user_id, const std::string& name) {
  auto stick = stick_of_user(user_id, "No such file");
  std::lock_guard lock(mutex_);
  if (stick->state == Stick::State::ejected)
    for (const auto& f : stick->returned)
      if (f.name == name) return stick->dir + "/out/" + f.name;  // a name we chose, never the client's
  throw DropNotFound("No such file");
}

// ---- the end ----

void UsbDropService::vm_ended(const std::string& vmid) {
  std::shared_ptr<Stick> stick;
  {
    std::lock_guard lock(mutex_);
    auto it = by_vm_.find(vmid);
    if (it == by_vm_.end()) return;
    stick = it->second;
    stick->vm_ended = true;
    // An operation in progress discards it when it ends.
    if (stick->state == Stick::State::ejecting || stick->state == Stick::State::receiving) return;
  }
  discard(stick);
}

void UsbDropService::discard(const std::shared_ptr<Stick>& stick) {
  {
    std::lock_guard lock(mutex_);
    if (stick->discarded) return;
    stick->discarded = true;
    if (auto it = by_vm_.find(stick->vmid); it != by_vm_.end() && it->second == stick) by_vm_.erase(it);
  }
  std::error_code ec;
  fs::remove_all(stick->dir, ec);
  if (stick->record.empty()) return;
  try {
    users_.release_snapshot(stick->record);
  } catch (const std::exception& e) {
    // The pending record is refunded by the next start-up (SnapshotService::reconcile).
    spdlog::error("USB stick {}: could not give back its quota: {}", stick->record, e.what());
  }
}

void UsbDropService::remember(const Stick& stick) {
  const nlohmann::json j = {{"user_id", stick.user_id}, {"vmid", stick.vmid},           {"record", stick.record},
                            {"bytes", stick.bytes},     {"mb", stick.mb},               {"node", stick.plugged.node},
                            {"device", stick.plugged.device}, {"fdset", stick.plugged.fdset}, {"dropped", files_to_json(stick.dropped)}};
  const std::string tmp = stick.dir + kStickFile + ".new";
  try {
    {
      UniqueFd fd = create_exclusive(tmp);
      write_all(fd.get(), j.dump());
      if (::fsync(fd.get()) != 0) fail_io("fsync", errno);
    }
    if (::rename(tmp.c_str(), (stick.dir + kStickFile).c_str()) != 0) fail_io("rename", errno);
  } catch (const std::exception& e) {
    ::unlink(tmp.c_str());
    spdlog::warn("vm {}: the USB stick will not survive a restart of vmshare: {}", stick.vmid, e.what());
  }
}

// A stick described in `dir` whose VM was adopted, whose quota record is still held and whose
// image is still there: plugged in again, as before the restart. Throws otherwise.
std::shared_ptr<UsbDropService::Stick> UsbDropService::readopt(
    const std::string& dir, const std::map<std::string, store::SnapshotRecord>& records) {
  UniqueFd fd = open_regular(dir + kStickFile, false);
  const auto j = nlohmann::json::parse(read_capped(fd.get(), 1 << 20));
  auto stick = std::make_shared<Stick>();
  stick->dir = dir;
  stick->user_id = j.at("user_id").get<std::int64_t>();
  stick->vmid = j.at("vmid").get<std::string>();
  stick->record = j.at("record").get<std::string>();
  stick->bytes = j.at("bytes").get<std::uint64_t>();
  stick->mb = j.at("mb").get<std::int64_t>();
  stick->plugged = {j.at("node").get<std::string>(), j.at("device").get<std::string>(), j.at("fdset").get<std::int64_t>()};
  for (const auto& f : j.at("dropped")) stick->dropped.push_back({f.at("name").get<std::string>(), f.at("size").get<std::uint64_t>()});
  const auto vm = vms_.find(stick->vmid);
  const auto record = records.find(stick->record);
  if (!vm || vm->user_id != stick->user_id) throw DropStickError("its VM was not adopted");
  if (record == records.end() || record->second.user_id != stick->user_id || record->second.vmid != stick->vmid)
    throw DropStickError("its quota record is gone");
  open_regular(dir + "/stick.img", false);  // still there, a regular file
  stick->state = Stick::State::plugged;
  return stick;
}

// Sticks QEMU has that were not taken back (plugged in just before the restart, or their folder
// lost) are unplugged: what the owner sees is then what the VM has.
void UsbDropService::unplug_unknown_sticks() {
  for (const auto& vm : vms_.list()) {
    std::string known;
    {
      std::lock_guard lock(mutex_);
      if (auto it = by_vm_.find(vm.vmid); it != by_vm_.end()) known = it->second->plugged.device;
    }
    try {
      if (auto n = vms_.unplug_unknown_usb_sticks(vm.vmid, known))
        spdlog::warn("vm {}: {} USB stick(s) vmshare had no record of unplugged", vm.vmid, n);
    } catch (const std::exception& e) {
      spdlog::warn("vm {}: could not look for USB sticks left from before the restart: {}", vm.vmid, e.what());
    }
  }
}

void UsbDropService::reconcile() {
  // The sticks' quota records of this node (SnapshotService::reconcile leaves them to us).
  std::map<std::string, store::SnapshotRecord> records;
  bool have_records = true;
  try {
    for (auto& r : users_.all_snapshots())
      if (r.os_type == kUsbDropKind && (r.node.empty() || r.node == vms_.node_id())) records[r.name] = std::move(r);
  } catch (const std::exception& e) {
    have_records = false;  // the next start-up refunds them
    spdlog::warn("USB sticks: their quota records could not be read ({}): none is taken back", e.what());
  }
  std::size_t kept = 0, removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(drops_dir_, ec)) {
    std::shared_ptr<Stick> stick;
    try {
      if (have_records) stick = readopt(entry.path().string(), records);
    } catch (const std::exception& e) {
      spdlog::info("USB sticks: one from before the restart is not taken back: {}", e.what());
    }
    std::lock_guard lock(mutex_);
    if (stick && !by_vm_.count(stick->vmid)) {
      by_vm_[stick->vmid] = stick;
      records.erase(stick->record);
      ++kept;
      continue;
    }
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
    ++removed;
  }
  unplug_unknown_sticks();
  for (const auto& [name, _] : records) {
    try {
      users_.release_snapshot(name);
    } catch (const std::exception& e) {
      spdlog::error("USB stick {}: could not give back its quota: {}", name, e.what());
    }
  }
  if (kept || removed)
    spdlog::info("USB sticks: {} still plugged into adopted VMs taken back, {} left from before the restart removed", kept,
                 removed);
}

}  // namespace vmshare::vm
