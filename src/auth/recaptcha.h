#pragma once
// reCAPTCHA verification against the configured verify URL (libcurl, bounded timeout).
#include <string>

namespace vmshare::auth {

enum class CaptchaResult { passed, rejected, unavailable };

// POSTs secret=&response=&remoteip= as a form; "success": true passes. An unreachable or
// malformed verify service is `unavailable` (the caller answers 503, never a bypass).
CaptchaResult verify_recaptcha(const std::string& verify_url, const std::string& secret,
                               const std::string& response, const std::string& remote_ip,
                               int timeout_ms);

}  // namespace vmshare::auth
