#pragma once
// The platform's Redis key layout, shared with the other services that read it.
#include <cstdint>
#include <string>

namespace vmshare::store::redis_keys {

inline std::string vm(const std::string& vmid) { return "vm:" + vmid; }  // hash
inline const std::string kActive = "vms:active";                         // set of vmids
inline std::string user_vms(std::int64_t uid) {  // zset, score started_at
  return "user:" + std::to_string(uid) + ":vms";
}
inline std::string by_os(const std::string& os) { return "vms:by_os:" + os; }  // set of vmids
inline std::string by_pid(std::int64_t pid) {  // string -> vmid
  return "vm:by_pid:" + std::to_string(pid);
}
inline std::string revoked(const std::string& jti) { return "revoked:" + jti; }
// Throttling counters (auth/throttle_key.h): a short tag and a fixed-size digest, never raw input.
inline std::string counter(const std::string& key) { return "throttle:" + key; }

}  // namespace vmshare::store::redis_keys
