#include "core/ip_network.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace vmshare {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool IpAddress::is_loopback() const {
  if (!v6) return bytes[0] == 127;
  static const std::array<std::uint8_t, 16> one{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == one;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress a;
  if (::inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  a.v6 = true;
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), a.bytes.begin())) {
    IpAddress v4;
    std::copy(a.bytes.begin() + 12, a.bytes.end(), v4.bytes.begin());
    return v4;
  }
  return a;
}

bool IpNetwork::contains(const IpAddress& address) const {
  if (address.v6 != base.v6) return false;
  int bits = prefix;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
    if ((address.bytes[i] & mask) != base.bytes[i]) return false;
  }
  return true;
}

std::optional<IpNetwork> parse_network(std::string_view text) {
  text = trim(text);
  const auto slash = text.find('/');
  auto address = parse_ip(text.substr(0, slash));
  if (!address) return std::nullopt;
  // "::ffff:10.0.0.0/104" is the IPv4 network 10.0.0.0/8.
  const bool mapped = !address->v6 && text.substr(0, slash).find(':') != std::string_view::npos;
  const int max = address->v6 || mapped ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 || prefix > max)
      return std::nullopt;
  }
  if (mapped) {
    if (prefix < 96) return std::nullopt;
    prefix -= 96;
  }
  IpNetwork net{*address, prefix};
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - i * 8, 0, 8);
    net.base.bytes[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return net;
}

std::vector<IpNetwork> parse_network_list(std::string_view text) {
  std::vector<IpNetwork> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const auto item = trim(text.substr(start, end - start));
    if (!item.empty()) {
      auto net = parse_network(item);
      if (!net) throw std::invalid_argument("'" + std::string(item) + "' is not an IP address or network (e.g. 10.0.0.0/8)");
      out.push_back(*net);
    }
    start = end + 1;
  }
  return out;
}

bool contains_any(const std::vector<IpNetwork>& networks, const IpAddress& address) {
  return std::any_of(networks.begin(), networks.end(), [&](const IpNetwork& n) { return n.contains(address); });
}

}  // namespace vmshare
