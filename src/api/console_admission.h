#pragma once
// The console WebSocket's admission: a viewer slot (vm/viewer_slots.h) taken before the
// upgrade, so a refusal is an HTTP 429 the browser can show, never a dropped WebSocket.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "http/response.h"
#include "vm/viewer_slots.h"

namespace vmshare::api {

// Either the caller's slot (shared so the WebSocket's callbacks can hold it; release() it when
// the console closes) or the refusal to answer with: 429, a detail naming the limit, and
// Retry-After (a WebSocket refusal is a Response, so its headers reach the browser).
struct ConsoleAdmission {
  std::shared_ptr<vm::ViewerSlots::Slot> slot;
  std::optional<http::Response> refusal;
};

// Counts refusals in vmshare_cap_refusals_total{cap="console_per_vm"|"console_per_user"}.
// `user_id` is the VM owner's for a share link's visitor (`audience`: the refusal's sentence).
ConsoleAdmission admit_console_viewer(vm::ViewerSlots& slots, const std::string& vmid, std::int64_t user_id,
                                      vm::ViewerSlots::Audience audience = vm::ViewerSlots::Audience::owner);

}  // namespace vmshare::api
