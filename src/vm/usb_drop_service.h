#pragma once
// Files dropped into a running VM as a USB stick, and the files its guest leaves on it.
//
// A drop streams the owner's files into a folder of vmshare's own (<data>/drops/<vmid>-<hex>,
// 0700), makes a FAT image there with mtools (usb_drop_image.h), opens it O_RDWR|O_NOFOLLOW
// and has QEMU plug it in as usb-storage (VmManager::plug_usb_stick: add-fd, blockdev-add,
// device_add). An eject unplugs it (device_del, confirmed gone, blockdev-del, remove-fd) and
// only then reads the files back, capped and with sanitised names, into <dir>/out, where the
// owner can list and download them until the next drop or the VM's end. What the guest wrote is
// parsed only by a confined mtools, as the VM's own uid, from a sealed copy (usb_drop_sandbox.h).
//
// One stick per VM: a drop while one is plugged in (or being made or ejected) is refused (409);
// after an eject, a new drop replaces the old stick and the files it brought back. The stick
// costs its size in MB of the owner's storage quota while it exists (a pending record in the
// snapshot table, so the database's quota CHECK covers it and start-up refunds it), and it is
// removed with its VM. A restart keeps plugged sticks: once QEMU has one, its folder holds
// stick.json (owner, VM, quota record, QEMU's node/device/fd-set ids, the files dropped), and
// reconcile() takes it back when its VM is adopted, so the owner still sees and can eject it.
// Everything else is forgotten at start-up: sticks being made or already ejected (their files
// read back), and any whose VM did not survive; their quota is given back. A stick an adopted
// QEMU has under vmshare's ids but no stick.json describes is unplugged, so what the owner sees
// is what the VM has.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/user_store.h"
#include "vm/unique_fd.h"
#include "vm/usb_drop_errors.h"
#include "vm/usb_drop_image.h"
#include "vm/vm_manager.h"

namespace vmshare::vm {

struct DropFile {
  std::string name;
  std::uint64_t size = 0;
};

struct DropLimits {
  std::uint64_t max_stick_bytes = 64ULL << 20;
  std::size_t max_files = 256;  // per drop, and read back per eject
};

struct DropPlugged {
  std::vector<DropFile> files;
  std::uint64_t stick_bytes = 0;
  std::int64_t charged_mb = 0;
};

struct DropEjected {
  std::vector<DropFile> files;  // what the stick held, as read back
  std::size_t skipped = 0;      // files left out: unreadable names, over the caps, damaged
};

// What a user's VM has: "none", "plugged" (with the files dropped) or "ejected" (with the files
// read back); "busy" while a stick is being made or ejected. No VM: "none" and no vmid.
struct DropStatus {
  std::string vmid;  // the user's running VM; empty when none
  std::string state = "none";
  std::vector<DropFile> dropped, returned;
};

class UsbDropService {
  struct Stick;

 public:
  UsbDropService(std::string data_dir, store::UserStore& users, VmManager& vms, DropLimits limits = {});
  ~UsbDropService();

  // One drop being received. Move-only; destroying it before commit() removes what it wrote
  // and gives the quota back. One thread at a time.
  class Upload {
   public:
    Upload(Upload&&) noexcept;
    Upload& operator=(Upload&&) = delete;
    ~Upload();
    // A new file named by the client (sanitised, made unique); then its data; then end_file().
    void begin_file(std::string_view client_name);
    void write(std::string_view data);
    void end_file();
    // Builds the stick and plugs it into the VM.
    DropPlugged commit();

   private:
    friend class UsbDropService;
    Upload(UsbDropService& service, std::shared_ptr<Stick> stick, std::uint64_t payload_budget);
    UsbDropService* service_;
    std::shared_ptr<Stick> stick_;
    std::uint64_t budget_ = 0;  // payload bytes the reserved stick has room for
    std::uint64_t written_ = 0;
    UniqueFd file_;
    std::set<std::string> taken_;
    bool committed_ = false;
  };

  // Admits a drop of at most `max_payload_bytes` (the body's length, when known) into the
  // user's running VM: VmNotFound, DropBusy, DropTooLarge or DropOverQuota before a byte is read.
  Upload begin(std::int64_t user_id, std::optional<std::uint64_t> max_payload_bytes);
  DropEjected eject(std::int64_t user_id);
  DropStatus status(std::int64_t user_id);
  // The files read back at the last eject (DropBusy while a stick is plugged in, DropNotFound
  // when there is none); the path of one of them, for sending (DropNotFound for other names).
  std::vector<DropFile> returned_files(std::int64_t user_id);
  std::string returned_file_path(std::int64_t user_id, const std::string& name);

  // The VM ended: its stick and files go, and the quota is given back.
  void vm_ended(const std::string& vmid);
  // Start-up, after the VMs were adopted: the sticks still plugged into them are taken back
  // (with their quota records); every other folder is removed and every other record refunded.
  void reconcile();

  const DropLimits& limits() const { return limits_; }

 private:
  std::shared_ptr<Stick> stick_of_user(std::int64_t user_id, const char* none_message);
  void remember(const Stick& stick);
  void unplug_unknown_sticks();
  std::shared_ptr<Stick> readopt(const std::string& dir, const std::map<std::string, store::SnapshotRecord>& records);
  void discard(const std::shared_ptr<Stick>& stick);
  DropEjected read_back(Stick& stick);

  std::string drops_dir_;
  store::UserStore& users_;
  VmManager& vms_;
  DropLimits limits_;
  DropImageTool tool_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Stick>> by_vm_;  // guarded by mutex_
};

}  // namespace vmshare::vm
