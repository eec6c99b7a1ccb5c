// Request bodies and tokens: parse_body_object / require_string / optional_string as handlers
// call them (JSON, form and unlabelled bodies), and verify_token with a fixed secret. Only the
// documented errors (ApiError) may escape the body helpers. To get past the signature check,
// one mode signs the fuzzer's header and payload with the secret (HMAC-SHA256) itself.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "auth/base64url.h"
#include "auth/jwt_tokens.h"
#include "core/errors.h"

using namespace vmshare;

namespace {

const std::string kSecret = "fuzz-secret-0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1700000000;

#define CHECK(cond) \
  do {              \
    if (!(cond)) __builtin_trap(); \
  } while (0)

void body_mode(std::uint8_t selector, const std::string& body) {
  static const char* kTypes[] = {"application/json", "application/x-www-form-urlencoded",
                                 "application/x-www-form-urlencoded; charset=UTF-8", "text/plain", nullptr};
  http::Request r;
  r.method = "POST";
  r.body = body;
  if (const char* t = kTypes[selector % 5]) r.headers["Content-Type"] = t;
  try {
    auto obj = api::parse_body_object(r);
    CHECK(obj.is_object());
    for (const char* f : {"login", "password", "username", "os_type", "snapshot", "message", "text"}) {
      try {
        auto v = api::require_string(obj, f);
        CHECK(!v.empty());
      } catch (const ApiError& e) {
        CHECK(e.status == 400 || e.status == 422);
      }
      try {
        (void)api::optional_string(obj, f);
      } catch (const ApiError& e) {
        CHECK(e.status == 422);
      }
    }
  } catch (const ApiError& e) {
    CHECK(e.status == 400 || e.status == 422);
  }
}

void check_claims(const std::string& token) {
  auto claims = auth::verify_token(token, kSecret, kNow);
  if (!claims) return;
  CHECK(!claims->sub.empty() && !claims->jti.empty() && claims->exp > kNow);
  // Accepted only with an HS256 header, whatever else it says.
  auto header = nlohmann::json::parse(*auth::base64url_decode(token.substr(0, token.find('.'))));
  CHECK(header.at("alg") == "HS256");
}

std::string sign(const std::string& signing_input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &len);
  return auth::base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (mode % 3) {
    case 0:
      body_mode(mode / 3, rest);
      break;
    case 1:  // a raw token
      check_claims(rest);
      break;
    case 2: {  // "<header json>\n<payload json>", encoded and correctly signed
      const auto nl = rest.find('\n');
      if (nl == std::string::npos) return 0;
      const std::string input = auth::base64url_encode(rest.substr(0, nl)) + "." +
                                auth::base64url_encode(rest.substr(nl + 1));
      check_claims(input + "." + sign(input));
      break;
    }
  }
  return 0;
}
