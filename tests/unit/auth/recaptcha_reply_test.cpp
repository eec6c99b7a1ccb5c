#include "auth/recaptcha_reply.h"

#include <gtest/gtest.h>

namespace vmshare::auth {
namespace {

TEST(RecaptchaReply, SuccessDecides) {
  EXPECT_EQ(parse_recaptcha_reply(200, R"({"success":true})"), CaptchaResult::passed);
  EXPECT_EQ(parse_recaptcha_reply(200, R"({"success":false,"error-codes":["timeout-or-duplicate"]})"),
            CaptchaResult::rejected);
}

TEST(RecaptchaReply, AnythingElseIsUnavailable) {
  EXPECT_EQ(parse_recaptcha_reply(503, R"({"success":true})"), CaptchaResult::unavailable);
  EXPECT_EQ(parse_recaptcha_reply(302, R"({"success":true})"), CaptchaResult::unavailable);
  EXPECT_EQ(parse_recaptcha_reply(200, ""), CaptchaResult::unavailable);
  EXPECT_EQ(parse_recaptcha_reply(200, "{"), CaptchaResult::unavailable);
  EXPECT_EQ(parse_recaptcha_reply(200, "[true]"), CaptchaResult::unavailable);
  EXPECT_EQ(parse_recaptcha_reply(200, R"({"ok":true})"), CaptchaResult::unavailable);
  // A truthy non-boolean is not a pass.
  EXPECT_EQ(parse_recaptcha_reply(200, R"({"success":"true"})"), CaptchaResult::unavailable);
  EXPECT_EQ(parse_recaptcha_reply(200, R"({"success":1})"), CaptchaResult::unavailable);
}

}  // namespace
}  // namespace vmshare::auth
