#pragma once
// The HTTP layer's view of a request, free of Beast types so handlers stay plain functions.
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/response.h"

namespace vmshare::http {

class ResponseStream;

// Header names are compared case-insensitively.
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target
  std::string path;    // percent-decoded path
  std::map<std::string, std::string> query;
  HeaderMap headers;
  std::string body;                 // empty for streaming routes
  // The client: the TCP peer, or behind a trusted proxy the address it forwarded (empty when
  // that was unreadable). remote_is_loopback: that client runs on this host.
  std::string remote_address;
  bool remote_is_loopback = false;
  std::string peer_address;         // the TCP peer itself (nginx, when it is in front)
  std::vector<std::string> params;  // values of <...> segments in the route pattern
  std::string route;                // the matched route template, for logs and metrics
  // Set by the internal listener's gate (cluster mode): the node that signed this request.
  std::string cluster_peer;

  // Streaming routes only: reads up to n body bytes, 0 at the end of the body; throws on
  // a timeout or a broken connection (BodyReadError) or a body over the route's limit (BodyTooLarge).
  std::function<std::size_t(char*, std::size_t)> read_body;
  std::optional<std::uint64_t> content_length;

  // For a response sent while it is produced (see response_stream.h); null where the route
  // cannot stream (uploads, WebSocket upgrades).
  ResponseStream* response_stream = nullptr;

  // Buffered routes only (null elsewhere): lets a handler answer later without holding its
  // worker while it waits (for a bcrypt hash, say). suspend() returns a Resume; the handler's
  // own return value (or exception) is then ignored, and the answer is what the continuation
  // passed to Resume returns (or throws, mapped to a response as a handler's would be). The
  // continuation runs on a worker, never before the handler has returned; call Resume exactly
  // once, from any thread. The Request stays valid until the continuation has run.
  using Resume = std::function<void(std::function<Response()>)>;
  std::function<Resume()> suspend;

  const std::string* header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? nullptr : &it->second;
  }
  std::string query_value(const std::string& name, const std::string& fallback = {}) const {
    auto it = query.find(name);
    return it == query.end() ? fallback : it->second;
  }
};

struct BodyTooLarge : std::runtime_error {
  BodyTooLarge() : std::runtime_error("request body too large") {}
};

// A streaming body stopped arriving: the connection broke, or it was too slow (read timeout).
// The message is for the log.
struct BodyReadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace vmshare::http
