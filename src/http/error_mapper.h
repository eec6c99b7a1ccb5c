#pragma once
// The server's one hook for errors: whatever a handler or a WebSocket decision throws becomes
// the response this function returns (and whatever it logs). The API injects its table
// (api/error_table.h) through ServerOptions::map_error, so http/ never sees other modules' types.
#include <exception>
#include <functional>

#include "http/request.h"
#include "http/response.h"

namespace vmshare::http {

using ErrorMapper = std::function<Response(std::exception_ptr error, const Request& request)>;

// Without an injected mapper: an ApiError's own status, detail and headers; 413 for
// BodyTooLarge; else 500 "Internal server error" with the message in the log only.
Response default_error_response(std::exception_ptr error, const Request& request);

}  // namespace vmshare::http
