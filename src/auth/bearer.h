#pragma once
// The token from an "Authorization: Bearer <token>" header (RFC 6750).
#include <optional>
#include <string>
#include <string_view>

namespace vmshare::auth {

// The scheme matches case-insensitively; the token must be RFC 6750 b64token characters.
// nullopt for any other scheme, an empty token, or a token with spaces or other characters.
std::optional<std::string> bearer_token(std::string_view authorization_header);

}  // namespace vmshare::auth
