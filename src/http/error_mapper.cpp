#include "http/error_mapper.h"

#include <spdlog/spdlog.h>

#include "core/errors.h"

namespace vmshare::http {

Response default_error_response(std::exception_ptr error, const Request& request) {
  try {
    std::rethrow_exception(error);
  } catch (const ApiError& e) {  // already an HTTP answer (core/errors.h)
    auto r = error_response(e.status, e.what());
    for (const auto& [name, value] : e.headers) r.header(name, value);
    return r;
  } catch (const BodyTooLarge&) {
    auto r = error_response(413, "Request body too large");
    r.close_connection = true;
    return r;
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unhandled error: {}", request.method, request.route, e.what());
  } catch (...) {
    spdlog::error("{} {}: unhandled error of unknown type", request.method, request.route);
  }
  return error_response(500, "Internal server error");
}

}  // namespace vmshare::http
