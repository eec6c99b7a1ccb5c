// POST /register, /login, /token, /logout; GET /me, /user_info.
#include <ctime>

#include <spdlog/spdlog.h>

#include "api/after_hash.h"
#include "api/auth_guard.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/sign_in_limits.h"
#include "auth/cookie.h"
#include "auth/jwt_tokens.h"
#include "auth/login_name.h"
#include "auth/recaptcha.h"
#include "core/errors.h"

namespace vmshare::api {

namespace {

using nlohmann::json;

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Checks at once in flight against the verify URL: each holds a thread, not a worker.
constexpr int kMaxCaptchaCalls = 64;

// Runs before anything else on /register, /login and /token (after the Origin check), then
// `next`. The verify URL is asked off the request workers (after_call), so a slow or
// unreachable verifier never holds one.
http::Response after_captcha(AppContext& app, http::Request& request, const json& body,
                             std::function<http::Response()> next) {
  if (app.config.recaptcha_secret.empty()) return next();
  auto response = optional_string(body, "g_recaptcha_response").value_or("");
  if (response.empty()) throw ApiError(400, "reCAPTCHA failed");
  auto result = std::make_shared<auth::CaptchaResult>(auth::CaptchaResult::unavailable);
  auto verify = [result, url = app.config.recaptcha_verify_url, secret = app.config.recaptcha_secret,
                 response = std::move(response), remote = request.remote_address,
                 timeout = app.config.recaptcha_timeout_ms] {
    *result = auth::verify_recaptcha(url, secret, response, remote, timeout);
  };
  return after_call(request, app.captcha_calls, kMaxCaptchaCalls, std::move(verify), [result, next = std::move(next)] {
    switch (*result) {
      case auth::CaptchaResult::passed: break;
      case auth::CaptchaResult::rejected: throw ApiError(400, "reCAPTCHA failed");
      case auth::CaptchaResult::unavailable:
        throw ApiError(503, "reCAPTCHA verification is unavailable, please retry shortly");
    }
    return next();
  });
}

constexpr const char* kLoginRule = "Login must be 1-64 characters: letters, digits, '_', '.', '-'";

// crypt() reads a C string, so a NUL would cut the password short: refused, like the length.
void check_password_shape(const std::string& password) {
  if (password.size() > auth::kBcryptMaxPasswordBytes)
    throw ApiError(400, "Password must be at most 72 bytes");
  if (password.find('\0') != std::string::npos) throw ApiError(400, "Password must not contain NUL characters");
}

// The client as the trusted-proxy rules see it; the TCP peer when its forwarded address was unreadable.
const std::string& client_of(const http::Request& request) {
  return request.remote_address.empty() ? request.peer_address : request.remote_address;
}

// 200 with a fresh token in the body (`fields` plus id, access_token, token_type) and the cookie.
http::Response token_response(AppContext& app, const store::User& user, json fields) {
  auth::TokenClaims claims;
  claims.sub = user.login;
  claims.uid = user.id;
  claims.iat = now_unix();
  claims.exp = claims.iat + app.config.access_token_expire_minutes * 60;
  const auto token = auth::issue_token(claims, app.secret);
  fields["id"] = user.id;
  fields["access_token"] = token;
  fields["token_type"] = "bearer";
  auto response = http::json_response(200, fields);
  response.header("Set-Cookie", auth::access_token_cookie(token, app.config.access_token_expire_minutes * 60,
                                                          app.config.cookie_secure));
  response.header("Cache-Control", "no-store");
  return response;
}

std::pair<std::string, std::string> login_fields(const json& body) {
  // Clients of the platform send "username"; "login" is accepted for symmetry with /register.
  auto login = optional_string(body, "username");
  if (!login || login->empty()) login = optional_string(body, "login");
  if (!login || login->empty()) throw ApiError(400, "username is required");
  return {*login, require_string(body, "password")};
}

// What the hash thread found, read by the continuation on a worker.
struct Verdict {
  std::optional<store::User> user;
  bool ok = false;
};

// /login and /token, past the Origin check and reCAPTCHA: the login's shape (no
// lookup or counter for what cannot be a login); a reserved attempt (429 past the limits);
// the user; then bcrypt off the worker, and the verdict settles the reservation.
http::Response checked_sign_in(AppContext& app, http::Request& request, const json& body, json fields) {
  auto [login, password] = login_fields(body);
  if (!auth::valid_login_name(login)) throw ApiError(400, kLoginRule);
  refuse_if_hash_queue_full(app);
  auto reservation = reserve_sign_in(app, login, client_of(request));
  auto verdict = std::make_shared<Verdict>();
  if (password.size() <= auth::kBcryptMaxPasswordBytes) verdict->user = app.users->find_by_login(login);
  // An unknown login costs the same hash as a wrong password.
  const std::string hash = verdict->user ? verdict->user->hashed_password : app.decoy_hash;
  auto verify = [verdict, password = std::move(password), hash] {
    verdict->ok = auth::verify_password(password, hash) && verdict->user;
  };
  return after_hash(
      app, request, std::move(verify), [&app, verdict, reservation, fields = std::move(fields)]() mutable {
        if (!verdict->ok) {
          reservation->failed();
          spdlog::info("failed login attempt");
          throw ApiError(401, "Incorrect username or password", {{"WWW-Authenticate", "Bearer"}});
        }
        reservation->succeeded();
        return token_response(app, *verdict->user, std::move(fields));
      });
}

// /register, past the Origin check and reCAPTCHA: shapes; a reserved sign-up (429 past the limits);
// the hash off the worker; then the user.
http::Response checked_sign_up(AppContext& app, http::Request& request, const json& body) {
  auto login = require_string(body, "login");
  auto password = require_string(body, "password");
  if (!auth::valid_login_name(login)) throw ApiError(400, kLoginRule);
  check_password_shape(password);
  if (password.size() < 8) throw ApiError(400, "Password must be at least 8 characters");
  refuse_if_hash_queue_full(app);
  auto reservation = reserve_sign_up(app, client_of(request));
  auto hash = std::make_shared<std::string>();
  auto make_hash = [hash, password = std::move(password), cost = app.config.bcrypt_cost] {
    *hash = auth::hash_password(password, cost);
  };
  return after_hash(
      app, request, std::move(make_hash), [&app, hash, reservation, login = std::move(login)] {
        reservation->succeeded();  // counted, taken or not
        // A taken login is 409 (api/error_table.cpp).
        return token_response(app, app.users->create_user(login, *hash, "user"), {{"message", "User registered"}});
      });
}

http::Response sign_in(AppContext& app, http::Request& request, json fields) {
  require_same_origin(app, request);
  auto body = std::make_shared<json>(parse_body_object(request));
  return after_captcha(app, request, *body, [&app, &request, body, fields = std::move(fields)]() mutable {
    return checked_sign_in(app, request, *body, std::move(fields));
  });
}

http::Response sign_up(AppContext& app, http::Request& request) {
  require_same_origin(app, request);
  auto body = std::make_shared<json>(parse_body_object(request));
  return after_captcha(app, request, *body, [&app, &request, body] { return checked_sign_up(app, request, *body); });
}

}  // namespace

void register_auth_routes(http::Router& router, AppContext& app) {
  router.post("/register", [&app](http::Request& request) { return sign_up(app, request); });

  router.post("/login", [&app](http::Request& request) {
    return sign_in(app, request, {{"message", "Login successful"}});
  });

  router.post("/token", [&app](http::Request& request) { return sign_in(app, request, json::object()); });

  router.post("/logout", [&app](http::Request& request) {
    Caller caller;
    try {
      caller = authenticate(app, request);
    } catch (const ApiError& e) {
      if (e.status != 401) throw;
      auto r = http::error_response(401, e.what());
      r.header("Set-Cookie", auth::clear_access_token_cookie(app.config.cookie_secure));
      return r;
    }
    const auto remaining = std::max<std::int64_t>(1, caller.token_exp - now_unix());
    app.sessions->revoke_token(caller.jti, std::chrono::seconds(remaining));
    if (app.on_logout) app.on_logout(caller.id);
    auto r = http::json_response(200, {{"message", "Logged out"}});
    r.header("Set-Cookie", auth::clear_access_token_cookie(app.config.cookie_secure));
    return r;
  });

  router.get("/me", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    // The quota rides along so the dashboard can draw its bar before any snapshot is taken.
    return http::json_response(200, {{"id", caller.id},
                                     {"login", caller.login},
                                     {"role", caller.role},
                                     {"snapshot_stored_mb", caller.snapshot_stored_mb},
                                     {"snapshot_capacity_mb", caller.snapshot_capacity_mb}});
  });

  router.get("/user_info", [&app](http::Request& request) {
    auto caller = authenticate(app, request);
    json out{{"os_type", nullptr}, {"vmid", nullptr}};
    auto vms = app.sessions->list_user(caller.id);
    if (!vms.empty()) {
      out["os_type"] = vms.front().os_type;
      out["vmid"] = vms.front().vmid;
    }
    return http::json_response(200, out);
  });
}

}  // namespace vmshare::api
