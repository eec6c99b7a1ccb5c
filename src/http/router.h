#pragma once
// Maps method + path to a handler. Patterns are literal segments and <name> placeholders
// ("/ws/<vmid>"); a trailing "<*>" matches the rest of the path ("/grafana/<*>").
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/request.h"
#include "http/response.h"
#include "http/websocket_handoff.h"

namespace vmshare::http {

using Handler = std::function<Response(Request&)>;

enum class BodyMode {
  buffered,   // the whole body is read (up to the server's limit) before the handler runs
  streaming,  // the handler pulls the body with Request::read_body (uploads, proxies)
};

struct Route {
  std::string method;   // "GET", "POST", ... or "*"
  std::string pattern;
  Handler handler;
  BodyMode body_mode = BodyMode::buffered;
  std::uint64_t max_body_bytes = 0;  // 0: the server default; streaming routes set their own
  // WebSocket routes: runs on a worker with the upgrade request; returns a refusal response or
  // the function that takes over the accepted socket.
  std::function<WebSocketDecision(Request&)> websocket;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::vector<std::string> params;
  bool method_mismatch = false;  // the path exists with another method: 405
  std::string allowed_methods;
};

class Router {
 public:
  void add(Route route);
  void get(const std::string& pattern, Handler h) { add(Route{"GET", pattern, std::move(h), BodyMode::buffered, 0, {}}); }
  void post(const std::string& pattern, Handler h) { add(Route{"POST", pattern, std::move(h), BodyMode::buffered, 0, {}}); }
  // The fallback (static files) for GET/HEAD paths no route claims.
  void set_fallback(Handler h) { fallback_ = std::move(h); }
  const Handler* fallback() const { return fallback_ ? &fallback_ : nullptr; }

  RouteMatch match(const std::string& method, const std::string& path) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;
    bool wildcard = false;
  };
  std::vector<Compiled> routes_;
  Handler fallback_;
};

}  // namespace vmshare::http
