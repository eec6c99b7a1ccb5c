#include "http/byte_range.h"

#include <charconv>

namespace vmshare::http {
namespace {
std::optional<std::uint64_t> number(const std::string& text) {
  std::uint64_t v = 0;
  if (text.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}
}  // namespace

RangeDecision decide_range(const std::string* header, std::uint64_t size) {
  RangeDecision whole;
  if (!header || header->rfind("bytes=", 0) != 0) return whole;
  const std::string spec = header->substr(6);
  if (spec.find(',') != std::string::npos) return whole;
  const auto dash = spec.find('-');
  if (dash == std::string::npos) return whole;
  const auto first_text = spec.substr(0, dash), last_text = spec.substr(dash + 1);
  RangeDecision d;
  d.kind = RangeKind::partial;
  if (first_text.empty()) {  // suffix: the last N bytes
    auto n = number(last_text);
    if (!n) return whole;
    if (*n == 0 || size == 0) return {RangeKind::unsatisfiable, {}};
    d.range.first = *n >= size ? 0 : size - *n;
    d.range.last = size - 1;
    return d;
  }
  auto first = number(first_text);
  if (!first) return whole;
  if (*first >= size) return {RangeKind::unsatisfiable, {}};
  d.range.first = *first;
  if (last_text.empty()) {
    d.range.last = size - 1;
  } else {
    auto last = number(last_text);
    if (!last || *last < *first) return whole;
    d.range.last = std::min(*last, size - 1);
  }
  return d;
}

}  // namespace vmshare::http
