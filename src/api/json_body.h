#pragma once
// Reading JSON request bodies with the errors API.md promises: malformed 400, wrong type 422.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "http/request.h"

namespace vmshare::api {

// The body as a JSON object; an empty body is an empty object. Also accepts
// application/x-www-form-urlencoded (OAuth2 clients post forms), as string fields.
nlohmann::json parse_body_object(const http::Request& request);
// Missing or empty: 400 "<field> is required"; not a string: 422.
std::string require_string(const nlohmann::json& body, const std::string& field);
std::optional<std::string> optional_string(const nlohmann::json& body, const std::string& field);

}  // namespace vmshare::api
