#pragma once
// The environment every child of vmshare gets (QEMU, qemu-img, setpriv): an allowlist, never
// vmshare's own environ. vmshare's environment holds SECRET_KEY, DATABASE_URL, REDIS_URL,
// TG_BOT_TOKEN, METRICS_TOKEN...; a guest that takes over QEMU reads /proc/self/environ.
#include <string>
#include <vector>

namespace vmshare::vm {

// "KEY=VALUE" entries: a fixed PATH and the C.UTF-8 locale. Nothing is taken from vmshare's.
const std::vector<std::string>& child_environment();

// NULL-terminated pointers into `entries`, for posix_spawn's envp (valid while `entries` is).
std::vector<char*> envp_of(const std::vector<std::string>& entries);

}  // namespace vmshare::vm
