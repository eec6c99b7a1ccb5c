#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vmshare::http {

// Part of a file to send as the body, opened by the server when it writes the response.
struct FileBody {
  std::string path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<FileBody> file;
  bool close_connection = false;

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

Response json_response(int status, const nlohmann::json& body);
// {"detail": "..."} with the given status.
Response error_response(int status, const std::string& detail);
std::string reason_phrase(int status);

}  // namespace vmshare::http
