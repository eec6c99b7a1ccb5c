#pragma once
// IP addresses and networks as configuration values (VMSHARE_TRUSTED_PROXIES): parsing, prefix
// matching, loopback. Pure; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack
// listener reports for IPv4 peers) are treated as the IPv4 address they carry.
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vmshare {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4: the first 4

  bool is_loopback() const;
  std::string to_string() const;  // canonical text (inet_ntop)
  bool operator==(const IpAddress&) const = default;
};

// "203.0.113.9", "::1", "[::1]", "::ffff:127.0.0.1"; nullopt for anything else (ports, names).
std::optional<IpAddress> parse_ip(std::string_view text);

struct IpNetwork {
  IpAddress base;  // host bits cleared
  int prefix = 0;  // 0..32 or 0..128

  bool contains(const IpAddress& address) const;
};

// "10.0.0.0/8", "::1", "127.0.0.1" (a single address is a full-length prefix).
std::optional<IpNetwork> parse_network(std::string_view text);

// A comma-separated list; blanks around items are ignored, an empty list is allowed.
// Throws std::invalid_argument naming the first bad item.
std::vector<IpNetwork> parse_network_list(std::string_view text);

bool contains_any(const std::vector<IpNetwork>& networks, const IpAddress& address);

}  // namespace vmshare
