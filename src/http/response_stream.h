#pragma once
// A response a handler sends while it is still producing it (a proxied body of any size): the
// status and headers go out at once, then each chunk as the client takes it. Every handler gets
// one in Request::response_stream and may ignore it and return a Response as usual.
//
// Calls block the handler's worker thread, never an I/O thread: write() waits while
// kMaxQueuedBytes are still unwritten (backpressure from a slow client), and gives up once the
// client has taken nothing for the server's read timeout.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "http/response.h"

namespace vmshare::http {

class ResponseStream {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 256 * 1024;

  virtual ~ResponseStream() = default;
  // Sends head's status, content type and headers (its body is ignored). content_length: the
  // exact body size when known; otherwise the body is chunked. At most once, before write().
  virtual void begin(const Response& head, std::optional<std::uint64_t> content_length) = 0;
  // Queues a body chunk. False: the client is gone or stopped reading; stop producing.
  virtual bool write(std::string_view chunk) = 0;
  // The body is complete. Returning from the handler without it after begin() (or throwing)
  // cuts the response short: the connection is closed so the client sees it incomplete.
  virtual void end() = 0;
  virtual bool begun() const = 0;
};

}  // namespace vmshare::http
