#pragma once
// Pure rules for snapshot names and their cost in MB.
#include <cstdint>
#include <string>

namespace vmshare::vm {

// "<user_id>__<os_type>__<vmid>.qcow2", or "...__<vmid>-<suffix>.qcow2" for later snapshots
// of the same VM (the platform's format, kept for existing clients).
std::string snapshot_name(std::int64_t user_id, const std::string& os_type, const std::string& vmid,
                          const std::string& suffix = {});
// Whether `name` could be one of ours at all: a cheap filter before any lookup. Ownership is
// decided by the database, never by the name.
bool plausible_snapshot_name(const std::string& name);

// Quota is counted in whole MiB, rounded up, so the sum of charges covers the files.
std::int64_t megabytes_rounded_up(std::uint64_t bytes);
// What to reserve before writing: the disk's footprint plus room for qcow2 metadata.
std::int64_t expected_snapshot_mb(std::uint64_t footprint_bytes);

}  // namespace vmshare::vm
