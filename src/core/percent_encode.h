#pragma once
// RFC 3986 percent-encoding of everything but unreserved characters, for query values we build
// (Prometheus, Grafana) and the HTTP layer's own round trips.
#include <string>
#include <string_view>

namespace vmshare {

std::string percent_encode(std::string_view text);

}  // namespace vmshare
