#pragma once
// A single "Range: bytes=..." request (RFC 9110), the form download resumption uses.
#include <cstdint>
#include <optional>
#include <string>

namespace vmshare::http {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

enum class RangeKind { whole, partial, unsatisfiable };

struct RangeDecision {
  RangeKind kind = RangeKind::whole;
  ByteRange range;
};

// No header, another unit, or several ranges: the whole file (allowed by the RFC).
// A syntactically valid range outside the file: unsatisfiable (416).
RangeDecision decide_range(const std::string* header, std::uint64_t size);

}  // namespace vmshare::http
