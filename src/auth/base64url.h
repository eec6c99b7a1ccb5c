#pragma once
// base64url (RFC 4648 §5) without padding, as JWT segments use it.
#include <optional>
#include <string>
#include <string_view>

namespace vmshare::auth {

// nullopt for characters outside the url-safe alphabet, '=' padding, or an impossible length.
std::optional<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view in);

}  // namespace vmshare::auth
