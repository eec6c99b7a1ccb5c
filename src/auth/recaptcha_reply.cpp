#include "auth/recaptcha_reply.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace vmshare::auth {

CaptchaResult parse_recaptcha_reply(long http_status, std::string_view body) {
  if (http_status < 200 || http_status > 299) {
    spdlog::warn("reCAPTCHA verify answered HTTP {}", http_status);
    return CaptchaResult::unavailable;
  }
  auto reply = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) {
    spdlog::warn("reCAPTCHA verify reply is not a JSON object");
    return CaptchaResult::unavailable;
  }
  auto success = reply.find("success");
  if (success == reply.end() || !success->is_boolean()) {
    spdlog::warn("reCAPTCHA verify reply has no boolean \"success\"");
    return CaptchaResult::unavailable;
  }
  if (success->get<bool>()) return CaptchaResult::passed;
  // Error codes name the problem (e.g. invalid-input-secret) without revealing any secret,
  // and tell an operator when the configuration, not the user, is at fault.
  auto codes = reply.find("error-codes");
  spdlog::info("reCAPTCHA rejected: {}", codes != reply.end() ? codes->dump() : "[]");
  return CaptchaResult::rejected;
}

}  // namespace vmshare::auth
