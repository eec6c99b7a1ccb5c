#include "vm/recording_plan.h"

namespace vmshare::vm {

std::size_t replay_start(const std::vector<RecordEntry>& records, std::uint32_t from_ms) {
  std::size_t start = records.size();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!records[i].header.full_frame()) continue;
    if (records[i].header.t_ms > from_ms && start != records.size()) break;
    start = i;
    if (records[i].header.t_ms > from_ms) break;  // none at or before: the first one
  }
  return start == records.size() ? 0 : start;
}

}  // namespace vmshare::vm
