#include "vm/snapshot_naming.h"

#include <regex>

namespace vmshare::vm {

std::string snapshot_name(std::int64_t user_id, const std::string& os_type, const std::string& vmid,
                          const std::string& suffix) {
  return std::to_string(user_id) + "__" + os_type + "__" + vmid + (suffix.empty() ? "" : "-" + suffix) + ".qcow2";
}

bool plausible_snapshot_name(const std::string& name) {
  static const std::regex pattern(R"(^[0-9]{1,19}__[a-z0-9_-]{1,32}__[A-Za-z0-9]{1,64}(-[a-z0-9]{1,16})?\.qcow2$)");
  return name.size() <= 160 && std::regex_match(name, pattern);
}

std::int64_t megabytes_rounded_up(std::uint64_t bytes) {
  constexpr std::uint64_t MiB = 1 << 20;
  return static_cast<std::int64_t>((bytes + MiB - 1) / MiB);
}

std::int64_t expected_snapshot_mb(std::uint64_t footprint_bytes) {
  // qcow2 adds L1/L2 tables and refcounts: ~0.2% of the data plus a fixed header.
  return megabytes_rounded_up(footprint_bytes + footprint_bytes / 256 + (1 << 20));
}

}  // namespace vmshare::vm
