#include "auth/hash_schedule.h"

#include <algorithm>

namespace vmshare::auth {

unsigned default_hash_threads(unsigned cores) { return cores > 1 ? cores - 1 : 1; }

HashNice hash_nice_levels(int base_nice) {
  const int base = std::clamp(base_nice, -20, 19);
  return {std::min(19, base + kHashNiceOffset), base};
}

unsigned hash_concurrency(unsigned base, std::span<const HashSlot> slots) {
  const bool starving = std::any_of(slots.begin(), slots.end(), [](const HashSlot& s) { return s.running && s.overdue; });
  return std::max(1u, base) + (starving ? 1 : 0);
}

std::vector<std::size_t> newly_overdue(std::span<const HashSlot> slots, HashClock::time_point now,
                                       std::chrono::milliseconds after) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < slots.size(); ++i)
    if (slots[i].running && !slots[i].overdue && now - slots[i].started >= after) out.push_back(i);
  return out;
}

std::optional<HashClock::time_point> next_overdue_at(std::span<const HashSlot> slots,
                                                     std::chrono::milliseconds after) {
  std::optional<HashClock::time_point> next;
  for (const auto& s : slots)
    if (s.running && !s.overdue && (!next || s.started + after < *next)) next = s.started + after;
  return next;
}

}  // namespace vmshare::auth
