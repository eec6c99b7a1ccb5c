#pragma once
// Interpreting the verify service's HTTP reply; kept apart from the transport so it is testable.
#include <string_view>

#include "auth/recaptcha.h"

namespace vmshare::auth {

// 2xx with a JSON object whose "success" is a boolean decides passed/rejected; anything else
// (other status, not JSON, no boolean "success") means the service is unavailable.
CaptchaResult parse_recaptcha_reply(long http_status, std::string_view body);

}  // namespace vmshare::auth
