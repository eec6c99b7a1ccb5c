#include "auth/base64url.h"

#include <gtest/gtest.h>

namespace vmshare::auth {
namespace {

TEST(Base64Url, Rfc4648Vectors) {
  // RFC 4648 §10, padding removed.
  const std::pair<const char*, const char*> v[] = {{"", ""},         {"f", "Zg"},
                                                   {"fo", "Zm8"},    {"foo", "Zm9v"},
                                                   {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : v) {
    EXPECT_EQ(base64url_encode(plain), enc);
    EXPECT_EQ(base64url_decode(enc), std::string(plain));
  }
}

TEST(Base64Url, UrlSafeAlphabet) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
}

TEST(Base64Url, RejectsOtherCharactersAndBadLengths) {
  EXPECT_FALSE(base64url_decode("Zg=="));  // padding is not part of JWT encoding
  EXPECT_FALSE(base64url_decode("+/8"));   // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm9v Yg"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));  // 4n+1 characters
}

}  // namespace
}  // namespace vmshare::auth
