#include "auth/bearer.h"

#include <gtest/gtest.h>

namespace vmshare::auth {
namespace {

TEST(Bearer, ExtractsToken) {
  EXPECT_EQ(bearer_token("Bearer abc.def-ghi_jkl"), "abc.def-ghi_jkl");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER abc"), "abc");
  EXPECT_EQ(bearer_token("Bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("Bearer\tabc"), "abc");
  EXPECT_EQ(bearer_token("Bearer a+b/c~d=="), "a+b/c~d==");
}

TEST(Bearer, RejectsOtherSchemesAndBadTokens) {
  EXPECT_FALSE(bearer_token(""));
  EXPECT_FALSE(bearer_token("Bearer"));
  EXPECT_FALSE(bearer_token("Bearer "));
  EXPECT_FALSE(bearer_token("Bearerabc"));
  EXPECT_FALSE(bearer_token("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(bearer_token("Token abc"));
  EXPECT_FALSE(bearer_token("Bearer abc def"));
  EXPECT_FALSE(bearer_token("Bearer abc,def"));
  EXPECT_FALSE(bearer_token("Bearer =abc"));
  EXPECT_FALSE(bearer_token("Bearer ab=c"));
  EXPECT_FALSE(bearer_token("Bearer abc\r\nX: y"));
}

}  // namespace
}  // namespace vmshare::auth
