#pragma once
// Who is calling: the JWT from the access_token cookie (preferred) or a Bearer header.
#include <cstdint>
#include <string>

#include "api/app_context.h"
#include "http/request.h"

namespace vmshare::api {

struct Caller {
  std::int64_t id = 0;
  std::string login;
  std::string role;
  std::string jti;
  std::int64_t token_exp = 0;
  bool via_cookie = false;
  std::int64_t snapshot_stored_mb = 0;
  std::int64_t snapshot_capacity_mb = 0;
  bool is_admin() const { return role == "admin"; }
};

// 401 without valid, unrevoked credentials of an existing user; 403 for a cookie-authenticated
// state-changing request (or any WebSocket upgrade) from a foreign Origin.
Caller authenticate(AppContext& app, const http::Request& request);

// The Origin rule alone (also used for the console WebSocket, where it applies to any method).
void require_same_origin(const AppContext& app, const http::Request& request);

}  // namespace vmshare::api
