#pragma once
// Cross-site request check for cookie-authenticated requests: the browser's Origin (or, when it
// sends none, the origin part of Referer) must be this site or one the operator allowed.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vmshare::auth {

// "scheme://host[:port]" of an http(s) URL or origin, normalised: scheme and host lower-case,
// a default port (80 for http, 443 for https) dropped, path/query/fragment cut off.
// nullopt for "null", other schemes, user-info ("user@host"), or a malformed host or port.
std::optional<std::string> origin_of_referer(std::string_view referer);

// True when origin_or_referer names http://<host_header> or https://<host_header>, or equals an
// entry of allowed_origins. Scheme, host and port must all match (host case-insensitively);
// there is no prefix or suffix matching. An empty or unparsable value is false: what to do when
// a request carries neither header is the caller's decision.
bool origin_allowed(std::string_view origin_or_referer, std::string_view host_header,
                    const std::vector<std::string>& allowed_origins);

}  // namespace vmshare::auth
