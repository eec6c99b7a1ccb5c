#include "api/auth_guard.h"

#include <ctime>

#include "auth/bearer.h"
#include "auth/cookie.h"
#include "auth/jwt_tokens.h"
#include "auth/origin_check.h"
#include "core/errors.h"

namespace vmshare::api {

namespace {
bool state_changing(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "DELETE" || method == "PATCH";
}
}  // namespace

void require_same_origin(const AppContext& app, const http::Request& request) {
  const auto* host = request.header("Host");
  const std::string host_value = host ? *host : "";
  if (const auto* origin = request.header("Origin")) {
    if (!auth::origin_allowed(*origin, host_value, app.config.allowed_origins))
      throw ApiError(403, "Cross-origin request refused");
    return;
  }
  if (const auto* referer = request.header("Referer")) {
    if (!auth::origin_allowed(*referer, host_value, app.config.allowed_origins))
      throw ApiError(403, "Cross-origin request refused");
  }
  // Neither header: not a browser, so not a cross-site forgery.
}

Caller authenticate(AppContext& app, const http::Request& request) {
  std::optional<std::string> token;
  bool via_cookie = false;
  if (const auto* cookie = request.header("Cookie")) {
    token = auth::cookie_value(*cookie, "access_token");
    via_cookie = token.has_value() && !token->empty();
  }
  if (!via_cookie) {
    token.reset();
    if (const auto* authorization = request.header("Authorization")) token = auth::bearer_token(*authorization);
  }
  if (!token || token->empty())
    throw ApiError(401, "Not authenticated", {{"WWW-Authenticate", "Bearer"}});

  auto claims = auth::verify_token(*token, app.secret, static_cast<std::int64_t>(std::time(nullptr)));
  if (!claims) throw ApiError(401, "Invalid or expired token", {{"WWW-Authenticate", "Bearer"}});
  if (via_cookie && state_changing(request.method)) require_same_origin(app, request);
  if (app.sessions->is_revoked(claims->jti))
    throw ApiError(401, "Token has been revoked", {{"WWW-Authenticate", "Bearer"}});
  auto user = app.users->find_by_id(claims->uid);
  if (!user || user->login != claims->sub)
    throw ApiError(401, "Invalid or expired token", {{"WWW-Authenticate", "Bearer"}});
  return Caller{user->id,  user->login, user->role, claims->jti, claims->exp, via_cookie, user->snapshot_stored,
                user->snapshot_storage_capacity};
}

}  // namespace vmshare::api
