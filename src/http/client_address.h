#pragma once
// Who the client is when trusted reverse proxies (nginx) stand in front: the TCP peer, unless
// it is a trusted proxy; then the right-most X-Forwarded-For entry that is not a trusted proxy
// (entries to its left were written by the client and prove nothing), else X-Real-IP. Pure.
#include <string>
#include <vector>

#include "core/ip_network.h"

namespace vmshare::http {

struct ClientAddress {
  std::string address;     // canonical text; empty when a trusted proxy sent garbage
  bool loopback = false;   // the client itself is on this host
  bool via_proxy = false;  // the peer was a trusted proxy
};

// forwarded_for: every X-Forwarded-For line joined with ", " (empty: none); real_ip likewise.
ClientAddress client_address(const std::string& peer, const std::string& forwarded_for, const std::string& real_ip,
                             const std::vector<IpNetwork>& trusted_proxies);

}  // namespace vmshare::http
