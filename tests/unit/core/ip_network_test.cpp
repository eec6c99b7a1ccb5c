// VMSHARE_TRUSTED_PROXIES values: addresses and networks, both families, mapped IPv4.
#include "core/ip_network.h"

#include <gtest/gtest.h>

namespace vmshare {
namespace {

IpAddress ip(const char* s) {
  auto a = parse_ip(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(IpAddress{});
}

TEST(IpNetwork, ParsesAddressesCanonically) {
  EXPECT_EQ(ip("203.0.113.9").to_string(), "203.0.113.9");
  EXPECT_EQ(ip(" 2001:DB8::1 ").to_string(), "2001:db8::1");
  EXPECT_EQ(ip("[::1]").to_string(), "::1");
  // What a dual-stack listener reports for an IPv4 peer is that IPv4 address.
  EXPECT_EQ(ip("::ffff:127.0.0.1"), ip("127.0.0.1"));
  for (const char* bad : {"", " ", "localhost", "1.2.3", "1.2.3.4:80", "1.2.3.256", "[::1]:80", "::1]", "unknown",
                          "1.2.3.4, 5.6.7.8", "fe80::1%eth0"})
    EXPECT_FALSE(parse_ip(bad)) << bad;
}

TEST(IpNetwork, Loopback) {
  EXPECT_TRUE(ip("127.0.0.1").is_loopback());
  EXPECT_TRUE(ip("127.8.9.10").is_loopback());
  EXPECT_TRUE(ip("::1").is_loopback());
  EXPECT_TRUE(ip("::ffff:127.0.0.1").is_loopback());
  EXPECT_FALSE(ip("128.0.0.1").is_loopback());
  EXPECT_FALSE(ip("::2").is_loopback());
  EXPECT_FALSE(ip("::").is_loopback());
}

TEST(IpNetwork, PrefixMatching) {
  auto net = parse_network("10.1.0.0/16");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(ip("10.1.255.3")));
  EXPECT_FALSE(net->contains(ip("10.2.0.1")));
  EXPECT_FALSE(net->contains(ip("::ffff:10.2.0.1")));
  EXPECT_TRUE(net->contains(ip("::ffff:10.1.0.1")));
  EXPECT_FALSE(net->contains(ip("::1")));  // families never match each other

  auto odd = parse_network("192.168.1.77/23");  // host bits are ignored
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->base.to_string(), "192.168.0.0");
  EXPECT_TRUE(odd->contains(ip("192.168.1.200")));
  EXPECT_FALSE(odd->contains(ip("192.168.2.1")));

  auto single = parse_network("127.0.0.1");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->prefix, 32);
  EXPECT_TRUE(single->contains(ip("127.0.0.1")));
  EXPECT_FALSE(single->contains(ip("127.0.0.2")));

  auto v6 = parse_network("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(ip("2001:db9::1")));
  auto all = parse_network("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("8.8.8.8")));

  auto mapped = parse_network("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->prefix, 8);
  EXPECT_TRUE(mapped->contains(ip("10.9.9.9")));

  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8/8", "/8", "::ffff:10.0.0.0/8",
                          "10.0.0.0/-1"})
    EXPECT_FALSE(parse_network(bad)) << bad;
}

TEST(IpNetwork, Lists) {
  auto list = parse_network_list(" 127.0.0.1, ::1 ,10.0.0.0/8,,");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_TRUE(contains_any(list, ip("10.3.4.5")));
  EXPECT_TRUE(contains_any(list, ip("::1")));
  EXPECT_FALSE(contains_any(list, ip("127.0.0.2")));
  EXPECT_TRUE(parse_network_list("").empty());
  EXPECT_TRUE(parse_network_list(" , ").empty());
  try {
    parse_network_list("127.0.0.1, nginx.local");
    FAIL() << "a host name is not an address";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'nginx.local'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vmshare
