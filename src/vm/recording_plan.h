#pragma once
// The arithmetic of recordings, pure: when a replay sends each record (timestamps x speed), where
// a seek starts (the nearest full frame at or before the target), when a recording must stop
// (size and length caps) and how much quota it reserves before writing.
#include <chrono>
#include <cstdint>
#include <vector>

#include "vm/recording_format.h"

namespace vmshare::vm {

// Speeds the replay page offers.
inline bool valid_replay_speed(int speed) { return speed == 1 || speed == 2 || speed == 4; }

// Index into `records` where a replay seeking to `from_ms` starts: the last full frame at or
// before it (the first full frame when none is; 0 for a recording without any). Records from
// there up to from_ms are sent at once, so the screen is current when pacing begins.
std::size_t replay_start(const std::vector<RecordEntry>& records, std::uint32_t from_ms);

// When, after the replay started, the record stamped `t_ms` goes out.
inline std::chrono::milliseconds replay_delay(std::uint32_t t_ms, std::uint32_t from_ms, int speed) {
  if (t_ms <= from_ms || speed < 1) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds((t_ms - from_ms) / static_cast<std::uint32_t>(speed));
}

struct RecordingCaps {
  std::uint64_t max_bytes = 0;  // the whole file, header included
  std::uint32_t max_ms = 0;
  std::uint64_t max_records = kMaxRecords;  // recording_record_cap
};

// Records a recording may hold: what QEMU sends stays far below kRecordsPerSecond (one update
// request at a time, at most ~10 a second), but every record is guest-made, and a guest that
// floods Bells (1 byte each) would otherwise fill a size cap with millions of them, each an
// entry of every replay's index (recording_format.h).
inline constexpr std::uint64_t kRecordsPerSecond = 20;
inline std::uint64_t recording_record_cap(std::uint32_t max_s) {
  const auto cap = std::uint64_t{max_s} * kRecordsPerSecond;
  return cap < kMaxRecords ? cap : kMaxRecords;
}

enum class CapVerdict { fits, size_cap, length_cap, record_cap };

// Whether one more record of `record_bytes` (header included) at `t_ms` may be written after
// `file_bytes` already are, in `records` records.
inline CapVerdict check_caps(const RecordingCaps& caps, std::uint64_t file_bytes, std::uint64_t record_bytes,
                             std::uint32_t t_ms, std::uint64_t records = 0) {
  if (t_ms > caps.max_ms) return CapVerdict::length_cap;
  if (file_bytes + record_bytes > caps.max_bytes) return CapVerdict::size_cap;
  if (records >= caps.max_records) return CapVerdict::record_cap;
  return CapVerdict::fits;
}

// Quota reserved before a recording starts: the size cap, or what is left of the owner's quota
// when that is less. 0 means nothing is left (the caller refuses with "over quota").
inline std::int64_t recording_reservation_mb(std::int64_t cap_mb, std::int64_t stored_mb, std::int64_t capacity_mb) {
  const auto left = capacity_mb - stored_mb;
  if (left <= 0) return 0;
  return left < cap_mb ? left : cap_mb;
}

// MB charged for a file of `bytes` (rounded up; an empty file still costs nothing).
inline std::int64_t recording_mb(std::uint64_t bytes) {
  constexpr std::uint64_t kMiB = 1 << 20;
  return static_cast<std::int64_t>((bytes + kMiB - 1) / kMiB);
}

}  // namespace vmshare::vm
