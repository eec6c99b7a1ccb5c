#pragma once
// HS256 JWTs through libjwt. Only HS256 is accepted: "none" and every other alg are rejected.
#include <cstdint>
#include <optional>
#include <string>

namespace vmshare::auth {

struct TokenClaims {
  std::string sub;        // login
  std::int64_t uid = 0;   // user id
  std::int64_t iat = 0;   // unix seconds
  std::int64_t exp = 0;   // unix seconds
  std::string jti;        // random id, used for revocation
};

// Fills jti with 128 random bits (hex) when empty.
std::string issue_token(TokenClaims claims, const std::string& secret);
// nullopt for a bad signature, another alg, missing claims, or exp <= now.
std::optional<TokenClaims> verify_token(const std::string& token, const std::string& secret,
                                        std::int64_t now_unix);

// 32 random bytes as 64 hex characters (for SECRET_KEY and ids).
std::string random_hex(std::size_t bytes);

}  // namespace vmshare::auth
