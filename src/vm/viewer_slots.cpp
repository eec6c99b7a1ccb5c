#include "vm/viewer_slots.h"

#include <utility>

namespace vmshare::vm {

namespace {

// Counts drop their key at zero, so the maps hold only VMs and users with open consoles.
template <class Map, class Key>
void decrement(Map& map, const Key& key) {
  auto it = map.find(key);
  if (it != map.end() && --it->second <= 0) map.erase(it);
}

template <class Map, class Key>
int count(const Map& map, const Key& key) {
  auto it = map.find(key);
  return it == map.end() ? 0 : it->second;
}

}  // namespace

ViewerSlots::Slot::Slot(std::shared_ptr<ViewerSlots> owner, std::string vmid, std::int64_t user_id)
    : owner_(std::move(owner)), vmid_(std::move(vmid)), user_id_(user_id) {}

ViewerSlots::Slot::Slot(Slot&& other) noexcept
    : owner_(std::move(other.owner_)), vmid_(std::move(other.vmid_)), user_id_(other.user_id_) {}

ViewerSlots::Slot& ViewerSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    vmid_ = std::move(other.vmid_);
    user_id_ = other.user_id_;
  }
  return *this;
}

void ViewerSlots::Slot::release() noexcept {
  if (auto owner = std::exchange(owner_, nullptr)) owner->give_back(vmid_, user_id_);
}

std::shared_ptr<ViewerSlots> ViewerSlots::create(Limits limits) {
  std::shared_ptr<ViewerSlots> slots(new ViewerSlots(limits));
  slots->self_ = slots;
  return slots;
}

ViewerSlots::Admission ViewerSlots::admit(const std::string& vmid, std::int64_t user_id) {
  std::lock_guard lock(mutex_);
  if (count(by_vm_, vmid) >= limits_.per_vm) return {{}, Refusal::vm_full};
  if (count(by_user_, user_id) >= limits_.per_user) return {{}, Refusal::user_full};
  ++by_vm_[vmid];
  ++by_user_[user_id];
  ++total_;
  return {Slot(self_.lock(), vmid, user_id), Refusal::none};
}

void ViewerSlots::give_back(const std::string& vmid, std::int64_t user_id) noexcept {
  std::lock_guard lock(mutex_);
  decrement(by_vm_, vmid);
  decrement(by_user_, user_id);
  --total_;
}

int ViewerSlots::viewers_of_vm(const std::string& vmid) const {
  std::lock_guard lock(mutex_);
  return count(by_vm_, vmid);
}

int ViewerSlots::viewers_of_user(std::int64_t user_id) const {
  std::lock_guard lock(mutex_);
  return count(by_user_, user_id);
}

int ViewerSlots::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

std::string ViewerSlots::explain(Refusal refusal, Audience audience) const {
  if (audience == Audience::link_visitor && refusal != Refusal::none)
    return refusal == Refusal::vm_full
               ? "This console already has as many viewers as it allows; try again later"
               : "This console has as many viewers as its owner allows; try again later";
  switch (refusal) {
    case Refusal::vm_full:
      return "This VM already has " + std::to_string(limits_.per_vm) +
             " open consoles (the limit); close one (another tab or window) and retry";
    case Refusal::user_full:
      return "You already have " + std::to_string(limits_.per_user) +
             " open consoles (the limit); close one and retry";
    case Refusal::none:
      break;
  }
  return {};
}

}  // namespace vmshare::vm
