#include "auth/recaptcha.h"

#include <gtest/gtest.h>

#include <chrono>

#include "fake_verify_server.h"

namespace vmshare::auth {
namespace {

using testing::CannedReply;
using testing::FakeVerifyServer;

TEST(Recaptcha, SuccessTruePassesAndSendsTheForm) {
  FakeVerifyServer server(CannedReply{200, R"({"success": true, "hostname": "x"})"});
  // Characters that must be form-escaped on the way.
  const std::string response = "tok en&x=1+2%/é";
  EXPECT_EQ(verify_recaptcha(server.url(), "s3cr&t=", response, "203.0.113.7", 2000),
            CaptchaResult::passed);
  EXPECT_EQ(server.last_request_line(), "POST /siteverify HTTP/1.1");
  EXPECT_EQ(server.last_content_type(), "application/x-www-form-urlencoded");
  const auto form = server.last_form();
  EXPECT_EQ(form.at("secret"), "s3cr&t=");
  EXPECT_EQ(form.at("response"), response);
  EXPECT_EQ(form.at("remoteip"), "203.0.113.7");
  EXPECT_EQ(form.size(), 3u);
}

TEST(Recaptcha, SuccessFalseIsRejected) {
  FakeVerifyServer server(
      CannedReply{200, R"({"success": false, "error-codes": ["invalid-input-response"]})"});
  EXPECT_EQ(verify_recaptcha(server.url(), "secret", "bad", "127.0.0.1", 2000),
            CaptchaResult::rejected);
  EXPECT_EQ(server.requests(), 1);
}

TEST(Recaptcha, SlowServiceTimesOutAsUnavailable) {
  FakeVerifyServer server(CannedReply{200, R"({"success": true})", std::chrono::seconds(3)});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(verify_recaptcha(server.url(), "secret", "tok", "127.0.0.1", 300),
            CaptchaResult::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
}

TEST(Recaptcha, ClosedPortIsUnavailable) {
  const std::string url =
      "http://127.0.0.1:" + std::to_string(testing::closed_loopback_port()) + "/siteverify";
  EXPECT_EQ(verify_recaptcha(url, "secret", "tok", "127.0.0.1", 1000), CaptchaResult::unavailable);
}

TEST(Recaptcha, ServerErrorIsUnavailableEvenWithSuccessBody) {
  FakeVerifyServer server(CannedReply{500, R"({"success": true})"});
  EXPECT_EQ(verify_recaptcha(server.url(), "secret", "tok", "127.0.0.1", 2000),
            CaptchaResult::unavailable);
}

TEST(Recaptcha, BadJsonIsUnavailable) {
  FakeVerifyServer server(CannedReply{200, "<html>oops</html>"});
  EXPECT_EQ(verify_recaptcha(server.url(), "secret", "tok", "127.0.0.1", 2000),
            CaptchaResult::unavailable);
}

TEST(Recaptcha, NonHttpUrlIsUnavailable) {
  EXPECT_EQ(verify_recaptcha("file:///etc/passwd", "secret", "tok", "", 1000),
            CaptchaResult::unavailable);
  EXPECT_EQ(verify_recaptcha("not a url", "secret", "tok", "", 1000), CaptchaResult::unavailable);
}

TEST(Recaptcha, EmptyRemoteIpIsLeftOut) {
  FakeVerifyServer server(CannedReply{});
  EXPECT_EQ(verify_recaptcha(server.url(), "secret", "tok", "", 2000), CaptchaResult::passed);
  EXPECT_EQ(server.last_form().count("remoteip"), 0u);
}

}  // namespace
}  // namespace vmshare::auth
