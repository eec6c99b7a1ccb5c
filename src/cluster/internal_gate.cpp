#include "cluster/internal_gate.h"

#include <charconv>

#include <spdlog/spdlog.h>

namespace vmshare::cluster {

namespace {
std::string header_or_empty(const http::Request& r, const char* name) {
  const auto* v = r.header(name);
  return v ? *v : std::string();
}
}  // namespace

Refusal refuse_internal_headers(const http::Request& request) {
  for (const auto& [name, _] : request.headers) {
    if (name.size() < 10) continue;
    std::string prefix = name.substr(0, 10);
    for (auto& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (prefix == kHeaderPrefix) return std::make_pair(400, "Header " + name + " is not accepted");
  }
  return std::nullopt;
}

Refusal InternalGate::admit(http::Request& request, std::int64_t now) {
  SignedFields f;
  f.method = request.method;
  f.target = request.target;
  f.nonce = header_or_empty(request, kHeaderNonce);
  f.sender = header_or_empty(request, kHeaderNode);
  const auto time = header_or_empty(request, kHeaderTime);
  auto [p, ec] = std::from_chars(time.data(), time.data() + time.size(), f.timestamp);
  const auto verdict = (ec != std::errc() || p != time.data() + time.size() || time.empty())
                           ? Verdict::malformed
                           : verify_request(key_, f, header_or_empty(request, kHeaderSignature), now, kWindowS, nonces_);
  if (verdict != Verdict::ok) {
    spdlog::warn("cluster: internal request refused ({}) from {}", verdict_text(verdict), request.peer_address);
    return std::make_pair(401, "Not a signed request of this cluster");
  }
  request.cluster_peer = f.sender;
  if (const auto* host = request.header("x-vmshare-forwarded-host")) request.headers["Host"] = *host;
  return std::nullopt;
}

}  // namespace vmshare::cluster
