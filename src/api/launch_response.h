#pragma once
// The answer to /run-script, /run-iso and /run_snapshot (API.md: the same shape for all three).
#include <string>

#include "api/time_format.h"
#include "http/response.h"
#include "vm/vm_manager.h"

namespace vmshare::api {

inline http::Response launch_response(const vm::LaunchResult& result, const std::string& started_message) {
  const auto& v = result.vm;
  return http::json_response(200, {{"message", result.created ? started_message : "VM already running; returning it"},
                                   {"vm",
                                    {{"vmid", v.vmid},
                                     {"user_id", v.user_id},
                                     {"os_type", v.os_type},
                                     {"started_at", iso8601(v.started_at)},
                                     {"status", v.status}}},
                                   {"redirect", "/console/" + v.vmid},
                                   {"ws_path", "/ws/" + v.vmid}});
}

}  // namespace vmshare::api
