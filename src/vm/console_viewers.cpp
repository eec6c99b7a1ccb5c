#include "vm/console_viewers.h"

#include <chrono>

#include "vm/console_stats.h"

namespace vmshare::vm {

const char* to_string(ViewerMode mode) { return mode == ViewerMode::view_only ? "view_only" : "control"; }

std::uint64_t ConsoleViewers::add(ViewerSpec spec, std::shared_ptr<const ViewerMeter> meter, Close close) {
  const auto since =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::optional<std::string> ended;  // its link was revoked meanwhile: closed at once
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    if (auto it = ended_links_.find(spec.link_id); spec.link_id != 0 && it != ended_links_.end())
      ended = it->second.reason;
    viewers_.emplace(id, Entry{std::move(spec), since, std::move(meter), close});
  }
  if (ended && close) close(*ended);
  return id;
}

void ConsoleViewers::remove(std::uint64_t id) {
  Entry gone;  // destroyed outside the lock
  std::lock_guard lock(mutex_);
  auto it = viewers_.find(id);
  if (it == viewers_.end()) return;
  gone = std::move(it->second);
  viewers_.erase(it);
}

ViewerInfo ConsoleViewers::info_of(std::uint64_t id, const Entry& e) {
  ViewerInfo info;
  info.id = id;
  info.vmid = e.spec.vmid;
  info.mode = e.spec.mode;
  info.address = e.spec.address;
  info.user_id = e.spec.user_id;
  info.label = e.spec.label;
  info.link_id = e.spec.link_id;
  info.since = e.since;
  if (e.meter) e.meter->fill(info, ViewerMeter::Clock::now());
  return info;
}

std::vector<ViewerInfo> ConsoleViewers::of_vm(const std::string& vmid) const {
  std::vector<ViewerInfo> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, entry] : viewers_)
    if (entry.spec.vmid == vmid) out.push_back(info_of(id, entry));  // ids grow: oldest first
  return out;
}

std::optional<ViewerInfo> ConsoleViewers::find(std::uint64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = viewers_.find(id);
  if (it == viewers_.end()) return std::nullopt;
  return info_of(id, it->second);
}

bool ConsoleViewers::close(const std::string& vmid, std::uint64_t id, const std::string& reason) {
  Close close;
  {
    std::lock_guard lock(mutex_);
    auto it = viewers_.find(id);
    if (it == viewers_.end() || it->second.spec.vmid != vmid) return false;
    close = it->second.close;
  }
  if (close) close(reason);
  return true;
}

std::size_t ConsoleViewers::close_link(std::int64_t link_id, const std::string& reason) {
  std::vector<Close> closes;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(ended_links_, [now](const auto& e) { return now - e.second.at > kEndedLinkMemory; });
    ended_links_[link_id] = {reason, now};
    for (const auto& [id, entry] : viewers_)
      if (entry.spec.link_id == link_id && entry.close) closes.push_back(entry.close);
  }
  for (auto& close : closes) close(reason);
  return closes.size();
}

std::size_t ConsoleViewers::size() const {
  std::lock_guard lock(mutex_);
  return viewers_.size();
}

std::size_t ConsoleViewers::count(ViewerMode mode) const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [_, entry] : viewers_) n += entry.spec.mode == mode;
  return n;
}

ConsoleViewers& console_viewers() {
  static ConsoleViewers viewers;
  return viewers;
}

}  // namespace vmshare::vm
