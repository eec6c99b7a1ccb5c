#include "auth/jwt_tokens.h"

#include <jwt.h>

#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"

namespace vmshare::auth {
namespace {

constexpr std::size_t kJtiBytes = 16;  // 128 bits
// Far above any token we issue; bounds the work an attacker can make us do per request.
constexpr std::size_t kMaxTokenBytes = 8192;

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

struct CStrDeleter {
  void operator()(char* s) const { std::free(s); }
};
using CStr = std::unique_ptr<char, CStrDeleter>;

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string("libjwt: ") + what + " failed");
}

// Our own look at the header before libjwt sees the token: libjwt picks the algorithm from the
// header, so anything but HS256 (none, HS512 with the same secret, RS256...) stops here.
bool header_is_hs256(std::string_view header_b64) {
  auto raw = base64url_decode(header_b64);
  if (!raw) return false;
  auto header = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return false;
  auto alg = header.find("alg");
  return alg != header.end() && alg->is_string() && alg->get<std::string>() == "HS256";
}

bool read_int(const nlohmann::json& claims, const char* name, std::int64_t& out) {
  auto it = claims.find(name);
  if (it == claims.end()) return false;
  if (it->is_number_integer() && !it->is_number_unsigned()) {
    out = it->get<std::int64_t>();
    return true;
  }
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(v);
    return true;
  }
  return false;  // floats and strings are not accepted for numeric claims
}

bool read_string(const nlohmann::json& claims, const char* name, std::string& out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return !out.empty();
}

}  // namespace

std::string issue_token(TokenClaims claims, const std::string& secret) {
  if (secret.empty()) throw std::invalid_argument("JWT secret is empty");
  if (claims.jti.empty()) claims.jti = random_hex(kJtiBytes);

  jwt_t* raw = nullptr;
  check(jwt_new(&raw), "jwt_new");
  JwtPtr jwt(raw);
  check(jwt_add_grant(jwt.get(), "sub", claims.sub.c_str()), "add sub");
  check(jwt_add_grant_int(jwt.get(), "uid", static_cast<long>(claims.uid)), "add uid");
  check(jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(claims.iat)), "add iat");
  check(jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(claims.exp)), "add exp");
  check(jwt_add_grant(jwt.get(), "jti", claims.jti.c_str()), "add jti");
  check(jwt_set_alg(jwt.get(), JWT_ALG_HS256,
                    reinterpret_cast<const unsigned char*>(secret.data()),
                    static_cast<int>(secret.size())),
        "set alg");
  CStr out(jwt_encode_str(jwt.get()));
  if (!out) throw std::runtime_error("libjwt: encode failed");
  return std::string(out.get());
}

std::optional<TokenClaims> verify_token(const std::string& token, const std::string& secret,
                                        std::int64_t now_unix) {
  if (secret.empty() || token.empty() || token.size() > kMaxTokenBytes) return std::nullopt;

  const auto dot1 = token.find('.');
  if (dot1 == std::string::npos) return std::nullopt;
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos)
    return std::nullopt;
  if (dot2 + 1 == token.size()) return std::nullopt;  // unsigned token
  if (!header_is_hs256(std::string_view(token).substr(0, dot1))) return std::nullopt;

  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 0) {
    if (raw) jwt_free(raw);
    return std::nullopt;
  }
  JwtPtr jwt(raw);
  // Belt and braces: some libjwt versions accept "none" even when given a key.
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return std::nullopt;

  // Read claims as JSON so wrong types (a string uid, a float exp) are rejected, not coerced.
  CStr grants(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants) return std::nullopt;
  auto claims = nlohmann::json::parse(grants.get(), nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return std::nullopt;

  TokenClaims out;
  if (!read_string(claims, "sub", out.sub) || !read_int(claims, "uid", out.uid) ||
      !read_int(claims, "iat", out.iat) || !read_int(claims, "exp", out.exp) ||
      !read_string(claims, "jti", out.jti))
    return std::nullopt;
  if (out.exp <= now_unix) return std::nullopt;
  return out;
}

}  // namespace vmshare::auth
