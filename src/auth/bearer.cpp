#include "auth/bearer.h"

namespace vmshare::auth {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool valid_b64token(std::string_view t) {
  std::size_t i = 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
  }
  if (i == 0) return false;
  for (; i < t.size(); ++i)
    if (t[i] != '=') return false;
  return true;
}

}  // namespace

std::optional<std::string> bearer_token(std::string_view header) {
  while (!header.empty() && is_space(header.front())) header.remove_prefix(1);
  while (!header.empty() && is_space(header.back())) header.remove_suffix(1);

  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (lower(header[i]) != kScheme[i]) return std::nullopt;
  header.remove_prefix(kScheme.size());
  if (!is_space(header.front())) return std::nullopt;  // "Bearerx..." is another scheme
  while (!header.empty() && is_space(header.front())) header.remove_prefix(1);

  if (!valid_b64token(header)) return std::nullopt;
  return std::string(header);
}

}  // namespace vmshare::auth
