#include "auth/jwt_tokens.h"

#include <gtest/gtest.h>
#include <jwt.h>

#include <cstdlib>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"

namespace vmshare::auth {
namespace {

const std::string kSecret = "test-secret-0123456789abcdef";
constexpr std::int64_t kNow = 1'700'000'000;

TokenClaims sample() {
  TokenClaims c;
  c.sub = "alice";
  c.uid = 42;
  c.iat = kNow;
  c.exp = kNow + 1800;
  return c;
}

struct Parts {
  std::string header, payload, signature;
};

Parts split(const std::string& token) {
  const auto a = token.find('.');
  const auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

std::string join(const Parts& p) { return p.header + "." + p.payload + "." + p.signature; }

// Signs arbitrary claims with libjwt directly, so tests can produce tokens issue_token never would.
std::string sign_raw(const nlohmann::json& grants, jwt_alg_t alg, const std::string& key) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  EXPECT_EQ(jwt_add_grants_json(jwt, grants.dump().c_str()), 0);
  EXPECT_EQ(jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size())),
            0);
  char* s = jwt_encode_str(jwt);
  std::string out = s ? s : "";
  std::free(s);
  jwt_free(jwt);
  return out;
}

nlohmann::json good_grants() {
  return {{"sub", "alice"}, {"uid", 42}, {"iat", kNow}, {"exp", kNow + 1800}, {"jti", "abc123"}};
}

TEST(JwtTokens, RoundTrip) {
  const std::string token = issue_token(sample(), kSecret);
  const auto claims = verify_token(token, kSecret, kNow + 10);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->sub, "alice");
  EXPECT_EQ(claims->uid, 42);
  EXPECT_EQ(claims->iat, kNow);
  EXPECT_EQ(claims->exp, kNow + 1800);
  EXPECT_EQ(claims->jti.size(), 32u);  // 128 bits, hex
}

TEST(JwtTokens, HeaderSaysHS256) {
  const auto header = base64url_decode(split(issue_token(sample(), kSecret)).header);
  ASSERT_TRUE(header);
  EXPECT_EQ(nlohmann::json::parse(*header).at("alg"), "HS256");
}

TEST(JwtTokens, GivenJtiIsKeptAndFreshOnesDiffer) {
  auto c = sample();
  c.jti = "fixed-id";
  EXPECT_EQ(verify_token(issue_token(c, kSecret), kSecret, kNow)->jti, "fixed-id");
  const auto a = verify_token(issue_token(sample(), kSecret), kSecret, kNow)->jti;
  const auto b = verify_token(issue_token(sample(), kSecret), kSecret, kNow)->jti;
  EXPECT_NE(a, b);
}

TEST(JwtTokens, LargeUidSurvives) {
  auto c = sample();
  c.uid = 9'007'199'254'740'993;  // above 2^53: must not pass through a double
  EXPECT_EQ(verify_token(issue_token(c, kSecret), kSecret, kNow)->uid, c.uid);
}

TEST(JwtTokens, EmptySecretRefused) {
  EXPECT_THROW(issue_token(sample(), ""), std::invalid_argument);
  EXPECT_FALSE(verify_token(issue_token(sample(), kSecret), "", kNow));
}

TEST(JwtTokens, TamperedPayloadRejected) {
  Parts p = split(issue_token(sample(), kSecret));
  auto payload = nlohmann::json::parse(*base64url_decode(p.payload));
  payload["uid"] = 1;  // become another user, keep the old signature
  p.payload = base64url_encode(payload.dump());
  EXPECT_FALSE(verify_token(join(p), kSecret, kNow));
}

TEST(JwtTokens, TamperedSignatureRejected) {
  Parts p = split(issue_token(sample(), kSecret));
  p.signature[5] = p.signature[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_token(join(p), kSecret, kNow));
  p.signature.pop_back();
  EXPECT_FALSE(verify_token(join(p), kSecret, kNow));
}

TEST(JwtTokens, AlgNoneRejected) {
  const Parts good = split(issue_token(sample(), kSecret));
  for (const char* header : {R"({"alg":"none","typ":"JWT"})", R"({"alg":"None"})",
                             R"({"alg":"NONE","typ":"JWT"})"}) {
    const std::string h = base64url_encode(header);
    EXPECT_FALSE(verify_token(h + "." + good.payload + ".", kSecret, kNow)) << header;
    EXPECT_FALSE(verify_token(h + "." + good.payload + "." + good.signature, kSecret, kNow))
        << header;
  }
}

TEST(JwtTokens, OtherAlgorithmsRejectedEvenWithTheRightSecret) {
  for (jwt_alg_t alg : {JWT_ALG_HS384, JWT_ALG_HS512}) {
    const std::string token = sign_raw(good_grants(), alg, kSecret);
    ASSERT_FALSE(token.empty());
    EXPECT_FALSE(verify_token(token, kSecret, kNow)) << jwt_alg_str(alg);
  }
  // The control: the same claims as HS256 pass.
  EXPECT_TRUE(verify_token(sign_raw(good_grants(), JWT_ALG_HS256, kSecret), kSecret, kNow));
}

TEST(JwtTokens, RS256HeaderRejected) {
  // An RS256 header over an HMAC made with the secret (the classic key-confusion attempt).
  const Parts hs = split(sign_raw(good_grants(), JWT_ALG_HS256, kSecret));
  const std::string rs = base64url_encode(R"({"alg":"RS256","typ":"JWT"})");
  EXPECT_FALSE(verify_token(rs + "." + hs.payload + "." + hs.signature, kSecret, kNow));
}

TEST(JwtTokens, Expiry) {
  const std::string token = issue_token(sample(), kSecret);
  EXPECT_TRUE(verify_token(token, kSecret, kNow + 1799));
  EXPECT_FALSE(verify_token(token, kSecret, kNow + 1800));  // exp <= now
  EXPECT_FALSE(verify_token(token, kSecret, kNow + 100000));
}

TEST(JwtTokens, WrongSecretRejected) {
  EXPECT_FALSE(verify_token(issue_token(sample(), kSecret), kSecret + "x", kNow));
  EXPECT_FALSE(verify_token(issue_token(sample(), kSecret), "other", kNow));
}

TEST(JwtTokens, MissingClaimsRejected) {
  for (const char* name : {"jti", "sub", "uid", "iat", "exp"}) {
    auto g = good_grants();
    g.erase(name);
    EXPECT_FALSE(verify_token(sign_raw(g, JWT_ALG_HS256, kSecret), kSecret, kNow)) << name;
  }
}

TEST(JwtTokens, IllTypedClaimsRejected) {
  const std::pair<const char*, nlohmann::json> cases[] = {
      {"uid", "42"},        {"uid", 42.5},  {"exp", "9999999999"}, {"iat", true},
      {"sub", 7},           {"sub", ""},    {"jti", 123},          {"jti", ""},
      {"uid", nullptr},     {"exp", nlohmann::json::array({kNow + 1800})},
  };
  for (const auto& [name, value] : cases) {
    auto g = good_grants();
    g[name] = value;
    EXPECT_FALSE(verify_token(sign_raw(g, JWT_ALG_HS256, kSecret), kSecret, kNow))
        << name << "=" << value.dump();
  }
}

TEST(JwtTokens, GarbageRejected) {
  for (const char* t : {"", ".", "..", "a.b.c", "a.b", "a.b.c.d", "not a token",
                        "eyJhbGciOiJIUzI1NiJ9..sig", "!!!.???.***"}) {
    EXPECT_FALSE(verify_token(t, kSecret, kNow)) << t;
  }
  EXPECT_FALSE(verify_token(std::string(20000, 'a'), kSecret, kNow));
}

TEST(JwtTokens, RandomHex) {
  EXPECT_EQ(random_hex(32).size(), 64u);
  EXPECT_EQ(random_hex(0), "");
  EXPECT_EQ(random_hex(1000).size(), 2000u);
  EXPECT_EQ(random_hex(16).find_first_not_of("0123456789abcdef"), std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_hex(16));
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace vmshare::auth
