#include "auth/hash_schedule.h"

#include <algorithm>

namespace vmshare::auth {

unsigned default_hash_threads(unsigned cores) { return cores > 1 ? cores - 1 : 1; }

HashNice hash_nice_levels(int base_nice) {
  const int base = std::clamp(base_nice, -20, 19);
  return {std::min(19, base + kHashNiceOffset), base};
}

std::vector<std::size_t> slots_to_boost(std::span<const HashSlot> slots, HashClock::time_point now,
                                        std::chrono::milliseconds after) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < slots.size(); ++i)
    if (slots[i].running && !slots[i].boosted && now - slots[i].started >= after) out.push_back(i);
  return out;
}

std::optional<HashClock::time_point> next_boost_at(std::span<const HashSlot> slots,
                                                   std::chrono::milliseconds after) {
  std::optional<HashClock::time_point> next;
  for (const auto& s : slots)
    if (s.running && !s.boosted && (!next || s.started + after < *next)) next = s.started + after;
  return next;
}

}  // namespace vmshare::auth
