#pragma once
// The two listeners' admission in cluster mode (http::ServerOptions::admit):
// - public: a request carrying any header of the internal scheme (x-vmshare-*) is refused, so
//   nothing from outside can pose as a node;
// - internal: every request must be signed by a node with the shared key (request_signing.h);
//   it is then marked with the sender (Request::cluster_peer) and the browser's Host restored.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cluster/request_signing.h"
#include "http/request.h"

namespace vmshare::cluster {

using Refusal = std::optional<std::pair<int, std::string>>;

Refusal refuse_internal_headers(const http::Request& request);

class InternalGate {
 public:
  static constexpr std::int64_t kWindowS = 30;
  explicit InternalGate(std::string key) : key_(std::move(key)) {}
  Refusal admit(http::Request& request, std::int64_t now);

 private:
  std::string key_;
  NonceCache nonces_;
};

}  // namespace vmshare::cluster
