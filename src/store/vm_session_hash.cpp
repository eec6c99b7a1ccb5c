#include "store/vm_session_hash.h"

#include <array>
#include <charconv>
#include <string_view>

namespace vmshare::store {
namespace {

constexpr std::array<std::string_view, 8> kCoreFields = {
    "vmid", "user_id", "os_type", "pid", "status", "started_at", "expires_at", "node"};

bool is_core(const std::string& f) {
  for (auto c : kCoreFields)
    if (f == c) return true;
  return false;
}

std::int64_t to_int(const std::string& s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : 0;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> to_hash_fields(const VmSession& s) {
  std::vector<std::pair<std::string, std::string>> out = {
      {"vmid", s.vmid},
      {"user_id", std::to_string(s.user_id)},
      {"os_type", s.os_type},
      {"pid", std::to_string(s.pid)},
      {"status", s.status},
      {"started_at", std::to_string(s.started_at)},
      {"expires_at", std::to_string(s.expires_at)},
      {"node", s.node},
  };
  for (const auto& [k, v] : s.extra)
    if (!is_core(k)) out.emplace_back(k, v);
  return out;
}

VmSession from_hash_fields(const std::vector<std::string>& flat) {
  VmSession s;
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
    const auto& k = flat[i];
    const auto& v = flat[i + 1];
    if (k == "vmid") s.vmid = v;
    else if (k == "user_id") s.user_id = to_int(v);
    else if (k == "os_type") s.os_type = v;
    else if (k == "pid") s.pid = to_int(v);
    else if (k == "status") s.status = v;
    else if (k == "started_at") s.started_at = to_int(v);
    else if (k == "expires_at") s.expires_at = to_int(v);
    else if (k == "node") s.node = v;
    else s.extra[k] = v;
  }
  return s;
}

}  // namespace vmshare::store
