#include "http/response.h"

#include <boost/beast/http/status.hpp>

namespace vmshare::http {

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response error_response(int status, const std::string& detail) {
  return json_response(status, {{"detail", detail}});
}

std::string reason_phrase(int status) {
  return std::string(boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status)));
}

}  // namespace vmshare::http
