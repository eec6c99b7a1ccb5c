// The monitor side of USB sticks (usb_drop_service.h): QEMU gets the image as a descriptor
// vmshare opened (add-fd, then /dev/fdset/<n>), never a path. Unplugging a USB device needs no
// guest cooperation: QEMU removes it at once and says so with DEVICE_DELETED; the device is
// confirmed gone by asking QOM (no event handler of our own on a monitor others share) before
// its node and fd set are removed, so nothing in QEMU can write the image afterwards.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vm/errors.h"
#include "vm/qemu_command.h"
#include "vm/qmp_commands.h"
#include "vm/usb_drop_rules.h"
#include "vm/vm_instance.h"

namespace vmshare::vm {

namespace {

// The controller the launch plan adds (qemu_command.cpp: qemu-xhci,id=usb; its bus is usb.0).
constexpr const char* kUsbBus = "usb.0";
constexpr auto kUnplugWait = std::chrono::seconds(10);

bool device_present(QmpCommands& qmp, const std::string& id) {
  const auto names = qmp.qom_list("/machine/peripheral");
  return std::find(names.begin(), names.end(), id) != names.end();
}

// Best effort, for rollbacks and the last steps of an unplug: the log keeps what failed.
template <class F>
void quietly(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::warn("usb stick: {} failed: {}", what, e.what());
  }
}

}  // namespace

VmManager::UsbStick VmManager::plug_usb_stick(const std::string& vmid, int image_fd, const std::string& name) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  const auto monitor = monitor_of(vm);
  QmpCommands qmp(*monitor);
  UsbStick stick;
  stick.node = name;
  stick.device = name + "-dev";
  stick.fdset = qmp.add_fd(image_fd, "usb-stick");
  try {
    qmp.blockdev_add(drop_blockdev_args(stick.node, fdset_path(static_cast<int>(stick.fdset))));
    try {
      qmp.device_add(drop_device_args(stick.device, stick.node, kUsbBus));
    } catch (...) {
      quietly("blockdev-del", [&] { qmp.blockdev_del(stick.node); });
      throw;
    }
  } catch (...) {
    quietly("remove-fd", [&] { qmp.remove_fd(stick.fdset); });
    throw;
  }
  spdlog::info("vm {}: USB stick {} plugged in", vmid, stick.device);
  return stick;
}

void VmManager::unplug_usb_stick(const std::string& vmid, const UsbStick& stick) {
  auto vm = get(vmid);
  if (!vm) throw VmNotFound("No such VM");
  std::lock_guard op(vm->op);
  const auto monitor = monitor_of(vm);
  QmpCommands qmp(*monitor);
  const bool present = device_present(qmp, stick.device);
  if (present) {
    qmp.device_del(stick.device);
    const auto deadline = std::chrono::steady_clock::now() + kUnplugWait;
    while (device_present(qmp, stick.device)) {
      if (std::chrono::steady_clock::now() > deadline) throw VmError("The VM did not release the USB stick");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // The stick's disk lets go of the node a moment after the device is gone (its finalisation
  // is deferred): "in use" until then. This one must succeed: until it does, QEMU may still
  // write the image.
  // A device already gone (a restart of vmshare during an eject) may have taken its node along:
  // then no node is left to be in use, and a failure means there is none to delete.
  for (const auto deadline = std::chrono::steady_clock::now() + kUnplugWait;;) {
    try {
      qmp.blockdev_del(stick.node);
      break;
    } catch (const QmpError& e) {
      if (!present && e.status.kind == QmpStatus::Kind::command_error) break;
      if (e.status.kind != QmpStatus::Kind::command_error || std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (stick.fdset >= 0) quietly("remove-fd", [&] { qmp.remove_fd(stick.fdset); });
  spdlog::info("vm {}: USB stick {} unplugged", vmid, stick.device);
}

std::size_t VmManager::unplug_unknown_usb_sticks(const std::string& vmid, const std::string& known_device) {
  auto vm = get(vmid);
  if (!vm) return 0;
  std::vector<std::string> unknown;
  {
    std::lock_guard op(vm->op);
    QmpCommands qmp(*monitor_of(vm));
    for (const auto& id : qmp.qom_list("/machine/peripheral"))
      if (is_drop_device_id(id) && id != known_device) unknown.push_back(id);
  }
  // Its fd set's id is unknown: QEMU keeps that descriptor (of a file already removed) until it ends.
  for (const auto& id : unknown) unplug_usb_stick(vmid, UsbStick{drop_node_of_device(id), id, -1});
  return unknown.size();
}

std::optional<std::uint32_t> VmManager::confined_uid(const std::string& vmid) const {
  if (!confined_) return std::nullopt;
  auto vm = get(vmid);
  if (!vm) return std::nullopt;
  return vm->record.uid;
}

}  // namespace vmshare::vm
