#pragma once
// Who may read /metrics and /metrics_json: loopback clients (the local Prometheus), a bearer
// METRICS_TOKEN, or else the caller's session must be an admin's (decided by the API layer).
#include <string>
#include <string_view>

namespace vmshare::obs {

enum class MetricsAccess { allow, needs_admin };

// authorization: the Authorization header or nullptr. An empty metrics_token never matches.
MetricsAccess metrics_access(bool remote_is_loopback, const std::string* authorization,
                             const std::string& metrics_token);

bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace vmshare::obs
