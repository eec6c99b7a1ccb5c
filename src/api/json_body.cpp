#include "api/json_body.h"

#include "core/errors.h"
#include "http/url.h"

namespace vmshare::api {

nlohmann::json parse_body_object(const http::Request& request) {
  const auto* type = request.header("Content-Type");
  const auto first = request.body.find_first_not_of(" \t\r\n");
  const bool looks_like_json = first != std::string::npos && request.body[first] == '{';
  // curl -d sends JSON labelled as a form; the body itself tells which it is.
  if (type && type->rfind("application/x-www-form-urlencoded", 0) == 0 && !looks_like_json) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : http::parse_query(request.body)) out[k] = v;
    return out;
  }
  if (first == std::string::npos) return nlohmann::json::object();
  auto parsed = nlohmann::json::parse(request.body, nullptr, false);
  if (parsed.is_discarded()) throw ApiError(400, "Request body is not valid JSON");
  if (!parsed.is_object()) throw ApiError(422, "Request body must be a JSON object");
  return parsed;
}

std::optional<std::string> optional_string(const nlohmann::json& body, const std::string& field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw ApiError(422, field + " must be a string");
  return it->get<std::string>();
}

std::string require_string(const nlohmann::json& body, const std::string& field) {
  auto value = optional_string(body, field);
  if (!value || value->empty()) throw ApiError(400, field + " is required");
  return *value;
}

}  // namespace vmshare::api
