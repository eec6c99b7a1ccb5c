#pragma once
// Errors that carry an HTTP status. Modules throw their own error types; api/error_table turns
// them into a status and a {"detail"} body in one place.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vmshare {

struct ApiError : std::runtime_error {
  int status;
  std::vector<std::pair<std::string, std::string>> headers;
  ApiError(int status_code, const std::string& detail,
           std::vector<std::pair<std::string, std::string>> extra_headers = {})
      : std::runtime_error(detail), status(status_code), headers(std::move(extra_headers)) {}
};

// A backing service (database, Redis) cannot be reached; requests that need it get 503.
struct ServiceUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace vmshare
