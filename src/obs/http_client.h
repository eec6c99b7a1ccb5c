#pragma once
// A small blocking HTTP client on libcurl for outbound calls (Prometheus, Grafana, Telegram,
// Sentry). Thread-safe: one easy handle per call. Never follows redirects (a proxy passes them
// on) and never decodes bodies. Call from worker threads only.
#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vmshare::obs {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};         // the whole exchange
  std::chrono::milliseconds connect_timeout{3000};
  std::size_t max_response_bytes = 16 << 20;        // buffered bodies only; over it: HttpError
  // Streaming: called with the status and headers as soon as they have arrived, then with each
  // body chunk; the body is not buffered. Return false to abort the transfer.
  std::function<bool(int status, const HeaderList& headers)> on_headers;
  std::function<bool(std::string_view chunk)> on_body;
  // Progress deadlines for streams, whose length `timeout` (0: none) cannot bound: the final
  // response's headers must come within header_timeout, and then some body bytes within every
  // stall_timeout (time spent in on_body, waiting for our own client, does not count). 0: off.
  std::chrono::milliseconds header_timeout{0};
  std::chrono::milliseconds stall_timeout{0};
};

// The first header named `name` (case-insensitive), or nullptr.
const std::string* find_header(const HeaderList& headers, std::string_view name);

struct HttpResponse {
  int status = 0;
  HeaderList headers;  // in order, repeated names kept (Set-Cookie)
  std::string body;
  const std::string* header(std::string_view name) const;  // first match, case-insensitive
};

// Transport failure: unreachable, timeout, stalled, body too large, aborted by a callback. The message
// names neither the URL nor its credentials (URLs may carry a bot token).
struct HttpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

HttpResponse http_request(const HttpRequest& request);

}  // namespace vmshare::obs
