#include "auth/cookie.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace vmshare::auth {
namespace {

TEST(Cookie, SetCookieValue) {
  EXPECT_EQ(access_token_cookie("a.b.c", 1800, true),
            "access_token=a.b.c; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=1800");
  EXPECT_EQ(access_token_cookie("a.b.c", 60, false),
            "access_token=a.b.c; HttpOnly; SameSite=Lax; Path=/; Max-Age=60");
  EXPECT_EQ(access_token_cookie("t", -5, false),
            "access_token=t; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
}

TEST(Cookie, ClearCookie) {
  EXPECT_EQ(clear_access_token_cookie(true),
            "access_token=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0");
  EXPECT_EQ(clear_access_token_cookie(false),
            "access_token=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
}

TEST(Cookie, RefusesValuesThatCouldInjectAttributes) {
  for (const char* bad : {"a;b", "a b", "a,b", "a\"b", "a\\b", "a\r\nSet-Cookie: x=y", "a\x7f"})
    EXPECT_THROW(access_token_cookie(bad, 10, true), std::invalid_argument) << bad;
}

TEST(Cookie, ParsesCookieHeader) {
  EXPECT_EQ(cookie_value("access_token=abc", "access_token"), "abc");
  EXPECT_EQ(cookie_value("a=1; access_token=abc.def; b=2", "access_token"), "abc.def");
  EXPECT_EQ(cookie_value("a=1;access_token=x=y;b=2", "access_token"), "x=y");  // '=' in value
  EXPECT_EQ(cookie_value("  access_token = spaced  ", "access_token"), "spaced");
  EXPECT_EQ(cookie_value("access_token=\"quoted\"", "access_token"), "quoted");
  EXPECT_EQ(cookie_value("access_token=first; access_token=second", "access_token"), "first");
  EXPECT_EQ(cookie_value("access_token=", "access_token"), "");
}

TEST(Cookie, AbsentOrOnlySimilarNames) {
  EXPECT_FALSE(cookie_value("", "access_token"));
  EXPECT_FALSE(cookie_value("a=1; b=2", "access_token"));
  EXPECT_FALSE(cookie_value("my_access_token=x; access_token_old=y", "access_token"));
  EXPECT_FALSE(cookie_value("Access_Token=x", "access_token"));  // names are case-sensitive
  EXPECT_FALSE(cookie_value("access_token", "access_token"));    // no '='
}

TEST(Cookie, RoundTrip) {
  const std::string set = access_token_cookie("eyJ.abc.def", 10, true);
  // A browser sends back just name=value, the part before the first ';'.
  EXPECT_EQ(cookie_value(set.substr(0, set.find(';')), "access_token"), "eyJ.abc.def");
}

}  // namespace
}  // namespace vmshare::auth
