#include "http/client_address.h"

#include <string_view>

namespace vmshare::http {
namespace {

ClientAddress from(const IpAddress& a, bool via_proxy) { return {a.to_string(), a.is_loopback(), via_proxy}; }

}  // namespace

ClientAddress client_address(const std::string& peer, const std::string& forwarded_for, const std::string& real_ip,
                             const std::vector<IpNetwork>& trusted_proxies) {
  const auto peer_ip = parse_ip(peer);
  if (!peer_ip) return {peer, false, false};
  if (!contains_any(trusted_proxies, *peer_ip)) return from(*peer_ip, false);

  // Right to left: each trusted hop vouches for the entry before it, up to the first untrusted one.
  std::string_view list(forwarded_for);
  std::optional<IpAddress> leftmost;
  while (!list.empty()) {
    const auto comma = list.rfind(',');
    const auto item = comma == std::string_view::npos ? list : list.substr(comma + 1);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
    if (item.find_first_not_of(" \t") == std::string_view::npos) continue;
    const auto ip = parse_ip(item);
    // A trusted proxy wrote something that is not an address: nobody to believe, and certainly
    // not a local client.
    if (!ip) return {"", false, true};
    if (!contains_any(trusted_proxies, *ip)) return from(*ip, true);
    leftmost = ip;
  }
  if (leftmost) return from(*leftmost, true);  // every hop is a trusted proxy
  if (real_ip.find_first_not_of(" \t") != std::string::npos) {
    const auto ip = parse_ip(real_ip);
    return ip ? from(*ip, true) : ClientAddress{"", false, true};
  }
  return from(*peer_ip, true);  // the proxy's own request (no forwarding headers)
}

}  // namespace vmshare::http
