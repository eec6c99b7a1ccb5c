#include <gtest/gtest.h>

#include <string>

#include "auth/throttle_key.h"

namespace vmshare::auth {
namespace {

TEST(ThrottleKey, FixedSizeWhateverTheInput) {
  const auto small = login_failure_key("a");
  const auto huge = login_failure_key(std::string(900000, 'x'));
  EXPECT_EQ(small.size(), 3 + kThrottleDigestChars);
  EXPECT_EQ(huge.size(), small.size());
  EXPECT_LE(address_signup_key("2001:db8::1").size(), kMaxThrottleKeyBytes);
  EXPECT_LE(global_signup_key().size(), kMaxThrottleKeyBytes);
  EXPECT_EQ(huge.find('x'), std::string::npos);  // never the raw input
}

TEST(ThrottleKey, LoginsCompareWithoutCase) {
  EXPECT_EQ(login_failure_key("Alice"), login_failure_key("alice"));
  EXPECT_NE(login_failure_key("alice"), login_failure_key("alice2"));
  EXPECT_EQ(normalise_login("A-Z_09.q"), "a-z_09.q");
}

TEST(ThrottleKey, KindsNeverShareAKey) {
  EXPECT_NE(address_failure_key("10.0.0.1"), address_signup_key("10.0.0.1"));
  EXPECT_NE(throttle_key("lf", "10.0.0.1"), throttle_key("af", "10.0.0.1"));
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  EXPECT_NE(throttle_key("ab", "c"), throttle_key("a", "bc"));
}

TEST(ThrottleKey, KnownDigest) {
  // SHA-256("lf\0alice"), first 16 bytes: fixed, so nodes of different builds agree.
  EXPECT_EQ(login_failure_key("alice"), "lf:9ae652195d977454e47d172fbf96fa7f");
}

TEST(AddressNetwork, Ipv6IsItsSlash64AndIpv4ItsAddress) {
  EXPECT_EQ(address_network("203.0.113.9"), "203.0.113.9");
  EXPECT_EQ(address_network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(address_network("2001:db8:1:2::ffff"), address_network("2001:db8:1:2:aaaa::1"));
  EXPECT_NE(address_network("2001:db8:1:2::1"), address_network("2001:db8:1:3::1"));
  EXPECT_EQ(address_network("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(address_network("not an address"), "not an address");
  EXPECT_EQ(address_network(""), "");
}

}  // namespace
}  // namespace vmshare::auth
