#pragma once
// An incremental multipart/form-data parser (RFC 7578 / RFC 2046) with no I/O: feed it the body
// in chunks of any size, it reports parts through callbacks. Used by streaming uploads, so part
// data is passed through in pieces and never buffered whole.
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/request.h"

namespace vmshare::http {

// Malformed multipart input. The message is short and safe to show to the client.
struct MultipartError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The boundary parameter of a multipart/form-data Content-Type, or nullopt when the type is not
// multipart/form-data or the boundary is missing or invalid (RFC 2046: 1-70 bchars).
std::optional<std::string> multipart_boundary(std::string_view content_type);

struct MultipartPart {
  HeaderMap headers;
  std::string name;                     // Content-Disposition "name"
  std::optional<std::string> filename;  // Content-Disposition "filename" (client-chosen, untrusted)
  std::string content_type;             // "text/plain" when the part has none (RFC 7578)
};

class MultipartReader {
 public:
  // The string_views passed to on_part_data are valid only during the call. An exception
  // thrown by a callback propagates out of feed(); the reader is unusable afterwards.
  struct Callbacks {
    std::function<void(const MultipartPart&)> on_part_begin;
    std::function<void(std::string_view)> on_part_data;
    std::function<void()> on_part_end;
    std::function<void()> on_end;  // the close delimiter was seen (the epilogue is ignored)
  };

  static constexpr std::size_t kDefaultMaxHeaderBytes = 8 * 1024;

  // Throws MultipartError for an empty or over-long boundary.
  MultipartReader(std::string boundary, Callbacks callbacks,
                  std::size_t max_header_bytes = kDefaultMaxHeaderBytes);

  // Parses as much of `chunk` as possible; keeps only what may be the start of a delimiter or
  // an incomplete header block. Throws MultipartError on malformed input.
  void feed(std::string_view chunk);

  // The body ended: throws MultipartError unless the close delimiter has been seen.
  void finish();

  bool done() const { return state_ == State::epilogue; }

 private:
  enum class State { preamble, headers, data, epilogue };
  enum class Delimiter { need_more, not_a_delimiter, next_part, close };

  // Processes `buf` and returns how many bytes were consumed.
  std::size_t process(std::string_view buf);
  Delimiter classify_delimiter(std::string_view buf, std::size_t after, std::size_t& line_end) const;
  std::size_t partial_delimiter_suffix(std::string_view buf) const;
  void emit_data(std::string_view data);
  MultipartPart parse_part_headers(std::string_view block) const;

  std::string delimiter_;  // "\r\n--" + boundary
  Callbacks callbacks_;
  std::size_t max_header_bytes_;
  State state_ = State::preamble;
  std::string pending_;  // unconsumed bytes carried to the next feed()
  bool failed_ = false;
};

}  // namespace vmshare::http
