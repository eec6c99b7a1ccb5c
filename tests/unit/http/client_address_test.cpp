// The client behind trusted proxies: X-Forwarded-For read from the right, X-Real-IP, the peer.
#include "http/client_address.h"

#include <gtest/gtest.h>

namespace vmshare::http {
namespace {

const auto kNginx = parse_network_list("127.0.0.1");
const auto kTwoHops = parse_network_list("127.0.0.1, 10.0.0.0/8");

TEST(ClientAddress, UntrustedPeerIsTheClientWhateverItClaims) {
  auto c = client_address("198.51.100.7", "127.0.0.1", "127.0.0.1", kNginx);
  EXPECT_EQ(c.address, "198.51.100.7");
  EXPECT_FALSE(c.loopback);
  EXPECT_FALSE(c.via_proxy);
  // No proxies configured: a loopback peer stays loopback, its headers are ignored.
  c = client_address("127.0.0.1", "203.0.113.9", "", {});
  EXPECT_EQ(c.address, "127.0.0.1");
  EXPECT_TRUE(c.loopback);
  EXPECT_FALSE(c.via_proxy);
  // A dual-stack listener's mapped form.
  c = client_address("::ffff:127.0.0.1", "", "", {});
  EXPECT_EQ(c.address, "127.0.0.1");
  EXPECT_TRUE(c.loopback);
}

TEST(ClientAddress, TrustedProxyForwardsTheClient) {
  auto c = client_address("127.0.0.1", "203.0.113.9", "", kNginx);
  EXPECT_EQ(c.address, "203.0.113.9");
  EXPECT_FALSE(c.loopback);
  EXPECT_TRUE(c.via_proxy);
  // The proxy's own requests (no forwarding headers) are the proxy's.
  c = client_address("127.0.0.1", "", "", kNginx);
  EXPECT_EQ(c.address, "127.0.0.1");
  EXPECT_TRUE(c.loopback);
  EXPECT_TRUE(c.via_proxy);
}

TEST(ClientAddress, RightMostUntrustedEntryWins) {
  // The client put "127.0.0.1" in front itself: it proves nothing.
  auto c = client_address("127.0.0.1", "127.0.0.1, 203.0.113.9", "", kNginx);
  EXPECT_EQ(c.address, "203.0.113.9");
  EXPECT_FALSE(c.loopback);
  // Two trusted hops (an internal balancer, then nginx) are skipped.
  c = client_address("127.0.0.1", "198.51.100.1, 203.0.113.9 ,10.1.2.3", "", kTwoHops);
  EXPECT_EQ(c.address, "203.0.113.9");
  // Every hop trusted: the left-most is as close to the client as we can see.
  c = client_address("127.0.0.1", "10.0.0.5, 10.0.0.6", "", kTwoHops);
  EXPECT_EQ(c.address, "10.0.0.5");
  // Empty items are skipped; IPv6 entries in brackets or plain.
  c = client_address("127.0.0.1", "2001:db8::5, , [2001:db8::6]", "", kNginx);
  EXPECT_EQ(c.address, "2001:db8::6");
  // Loopback behind the proxy is still loopback (e.g. curl on the proxy host itself).
  c = client_address("127.0.0.1", "::1", "", kNginx);
  EXPECT_TRUE(c.loopback);
}

TEST(ClientAddress, GarbageFromATrustedProxyIsNobody) {
  for (const char* xff : {"unknown", "203.0.113.9:5555", "203.0.113.9, not-an-ip", "_hidden"}) {
    auto c = client_address("127.0.0.1", xff, "", kNginx);
    EXPECT_EQ(c.address, "") << xff;
    EXPECT_FALSE(c.loopback) << xff;
  }
  // Garbage left of the first untrusted entry is never looked at.
  auto c = client_address("127.0.0.1", "garbage, 203.0.113.9", "", kNginx);
  EXPECT_EQ(c.address, "203.0.113.9");
}

TEST(ClientAddress, RealIpWhenThereIsNoForwardedFor) {
  auto c = client_address("127.0.0.1", "", "203.0.113.10", kNginx);
  EXPECT_EQ(c.address, "203.0.113.10");
  EXPECT_FALSE(c.loopback);
  c = client_address("127.0.0.1", "203.0.113.9", "203.0.113.10", kNginx);
  EXPECT_EQ(c.address, "203.0.113.9") << "X-Forwarded-For carries the chain and wins";
  c = client_address("127.0.0.1", "", "nope", kNginx);
  EXPECT_EQ(c.address, "");
  EXPECT_FALSE(c.loopback);
  c = client_address("198.51.100.7", "", "127.0.0.1", kNginx);
  EXPECT_EQ(c.address, "198.51.100.7") << "only a trusted peer's X-Real-IP counts";
}

}  // namespace
}  // namespace vmshare::http
