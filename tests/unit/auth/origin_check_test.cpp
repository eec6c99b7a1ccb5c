#include "auth/origin_check.h"

#include <gtest/gtest.h>

namespace vmshare::auth {
namespace {

const std::vector<std::string> kNone;

TEST(OriginOfReferer, Normalises) {
  EXPECT_EQ(origin_of_referer("https://Example.COM/path?q=1#f"), "https://example.com");
  EXPECT_EQ(origin_of_referer("HTTP://example.com:8000/x"), "http://example.com:8000");
  EXPECT_EQ(origin_of_referer("https://example.com:443/"), "https://example.com");
  EXPECT_EQ(origin_of_referer("http://example.com:80"), "http://example.com");
  EXPECT_EQ(origin_of_referer("https://example.com:80"), "https://example.com:80");
  EXPECT_EQ(origin_of_referer("http://[::1]:8000/a"), "http://[::1]:8000");
  EXPECT_EQ(origin_of_referer("http://127.0.0.1:8000?x"), "http://127.0.0.1:8000");
}

TEST(OriginOfReferer, Rejects) {
  for (const char* r : {"", "null", "example.com", "ftp://example.com", "javascript:alert(1)",
                        "http://", "http:///path", "http://user@example.com/",
                        "http://example.com:0", "http://example.com:65536", "http://example.com:",
                        "http://example.com:8o", "http://exa mple.com", "http://[::1", "http://[]", "http://[::1]:"})
    EXPECT_FALSE(origin_of_referer(r)) << r;
}

TEST(OriginAllowed, OwnHostEitherScheme) {
  EXPECT_TRUE(origin_allowed("http://localhost:8000", "localhost:8000", kNone));
  EXPECT_TRUE(origin_allowed("https://vm.example.com", "vm.example.com", kNone));
  EXPECT_TRUE(origin_allowed("http://vm.example.com", "VM.Example.com", kNone));
  EXPECT_TRUE(origin_allowed("https://vm.example.com/console?id=1", "vm.example.com", kNone));
  EXPECT_TRUE(origin_allowed("https://vm.example.com", "vm.example.com:443", kNone));
}

TEST(OriginAllowed, OtherSitesRejected) {
  EXPECT_FALSE(origin_allowed("http://localhost:8001", "localhost:8000", kNone));
  EXPECT_FALSE(origin_allowed("http://localhost", "localhost:8000", kNone));
  EXPECT_FALSE(origin_allowed("https://evil.com", "vm.example.com", kNone));
  EXPECT_FALSE(origin_allowed("https://vm.example.com.evil.com", "vm.example.com", kNone));
  EXPECT_FALSE(origin_allowed("https://evilvm.example.com", "vm.example.com", kNone));
  EXPECT_FALSE(origin_allowed("https://vm.example.com@evil.com", "vm.example.com", kNone));
  EXPECT_FALSE(origin_allowed("null", "vm.example.com", kNone));
  EXPECT_FALSE(origin_allowed("", "vm.example.com", kNone));
  EXPECT_FALSE(origin_allowed("https://vm.example.com", "", kNone));
}

TEST(OriginAllowed, AllowList) {
  const std::vector<std::string> allowed = {"https://admin.example.com", "http://localhost:3000/"};
  EXPECT_TRUE(origin_allowed("https://admin.example.com", "vm.example.com", allowed));
  EXPECT_TRUE(origin_allowed("https://ADMIN.example.com/page", "vm.example.com", allowed));
  EXPECT_TRUE(origin_allowed("http://localhost:3000", "vm.example.com", allowed));
  EXPECT_FALSE(origin_allowed("http://admin.example.com", "vm.example.com", allowed));  // scheme
  EXPECT_FALSE(origin_allowed("https://admin.example.com:8443", "vm.example.com", allowed));
  EXPECT_FALSE(origin_allowed("http://localhost:3001", "vm.example.com", allowed));
  EXPECT_FALSE(origin_allowed("null", "vm.example.com", {"null"}));
}

}  // namespace
}  // namespace vmshare::auth
