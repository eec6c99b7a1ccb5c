#pragma once
// The console WebSocket's admission: a viewer slot (vm/viewer_slots.h) taken before the
// upgrade, so a refusal is an HTTP 429 the browser can show, never a dropped WebSocket.
#include <cstdint>
#include <memory>
#include <string>

#include "vm/viewer_slots.h"

namespace vmshare::api {

// The caller's slot on `vmid`; throws ApiError(429, ...) with Retry-After when the VM's or
// the user's limit is reached (counted in vmshare_cap_refusals_total). Shared so the
// WebSocket's callbacks can hold it; release() it when the console closes.
std::shared_ptr<vm::ViewerSlots::Slot> admit_console_viewer(vm::ViewerSlots& slots, const std::string& vmid,
                                                            std::int64_t user_id);

}  // namespace vmshare::api
