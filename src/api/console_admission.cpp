#include "api/console_admission.h"

#include <spdlog/spdlog.h>

#include "obs/vmshare_metrics.h"

namespace vmshare::api {

ConsoleAdmission admit_console_viewer(vm::ViewerSlots& slots, const std::string& vmid, std::int64_t user_id,
                                      vm::ViewerSlots::Audience audience) {
  auto admission = slots.admit(vmid, user_id);
  if (admission.slot) return {std::make_shared<vm::ViewerSlots::Slot>(std::move(admission.slot)), std::nullopt};
  const bool vm_full = admission.refusal == vm::ViewerSlots::Refusal::vm_full;
  obs::metrics().cap_refusals_total.with({vm_full ? "console_per_vm" : "console_per_user"}).inc();
  spdlog::info("console of VM {} refused for user {}: {} limit reached", vmid, user_id, vm_full ? "per-VM" : "per-user");
  auto refusal = http::error_response(429, slots.explain(admission.refusal, audience));
  refusal.header("Retry-After", "5");
  return {nullptr, std::move(refusal)};
}

}  // namespace vmshare::api
