#include "http/multipart_reader.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace vmshare::http {

namespace {

constexpr std::size_t kMaxBoundaryBytes = 70;  // RFC 2046
// Whitespace allowed between a boundary and its CRLF ("transport padding"); bounded so a
// hostile body cannot make us buffer without end.
constexpr std::size_t kMaxPaddingBytes = 256;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "type; a=b; c="d"" -> lower-cased type and parameters (names lower-cased, values unquoted).
struct HeaderValue {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return &v;
    return nullptr;
  }
};

HeaderValue parse_header_value(std::string_view value) {
  HeaderValue out;
  auto semi = value.find(';');
  out.type = lower(trim(value.substr(0, semi)));
  std::size_t i = semi == std::string_view::npos ? value.size() : semi + 1;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == ';')) ++i;
    const std::size_t name_start = i;
    while (i < value.size() && value[i] != '=' && value[i] != ';') ++i;
    std::string name = lower(trim(value.substr(name_start, i - name_start)));
    std::string param_value;
    if (i < value.size() && value[i] == '=') {
      ++i;
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i < value.size() && value[i] == '"') {
        for (++i; i < value.size() && value[i] != '"'; ++i) {
          if (value[i] == '\\' && i + 1 < value.size()) ++i;  // quoted-pair
          param_value += value[i];
        }
        if (i < value.size()) ++i;  // closing quote
        while (i < value.size() && value[i] != ';') ++i;
      } else {
        const std::size_t start = i;
        while (i < value.size() && value[i] != ';') ++i;
        param_value = std::string(trim(value.substr(start, i - start)));
      }
    }
    if (!name.empty()) out.params.emplace_back(std::move(name), std::move(param_value));
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5987 ext-value: charset'language'percent-encoded; nullopt when malformed.
std::optional<std::string> decode_ext_value(std::string_view v) {
  auto first = v.find('\'');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = v.find('\'', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string out;
  for (std::size_t i = second + 1; i < v.size(); ++i) {
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return std::nullopt;
    const int hi = hex_digit(v[i + 1]), lo = hex_digit(v[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool valid_boundary(std::string_view b) {
  if (b.empty() || b.size() > kMaxBoundaryBytes || b.back() == ' ') return false;
  static constexpr std::string_view kSpecials = "'()+_,-./:=? ";
  return std::all_of(b.begin(), b.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kSpecials.find(c) != std::string_view::npos;
  });
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  auto value = parse_header_value(content_type);
  if (value.type != "multipart/form-data") return std::nullopt;
  const std::string* boundary = value.param("boundary");
  if (!boundary || !valid_boundary(*boundary)) return std::nullopt;
  return *boundary;
}

MultipartReader::MultipartReader(std::string boundary, Callbacks callbacks, std::size_t max_header_bytes)
    : delimiter_("\r\n--" + boundary), callbacks_(std::move(callbacks)), max_header_bytes_(max_header_bytes) {
  if (boundary.empty() || boundary.size() > kMaxBoundaryBytes) throw MultipartError("invalid multipart boundary");
  // The first delimiter may open the body without a preceding CRLF: pretend one was there
  // (it lands in the preamble, which is discarded).
  pending_ = "\r\n";
}

void MultipartReader::feed(std::string_view chunk) {
  if (failed_) throw MultipartError("multipart reader used after an error");
  try {
    if (pending_.empty()) {
      // The common case while streaming a part: parse the caller's chunk in place, no copy.
      const std::size_t used = process(chunk);
      pending_.assign(chunk.substr(used));
    } else {
      pending_.append(chunk);
      const std::size_t used = process(pending_);
      pending_.erase(0, used);
    }
  } catch (...) {
    failed_ = true;
    throw;
  }
}

void MultipartReader::finish() {
  if (failed_) throw MultipartError("multipart reader used after an error");
  if (state_ == State::epilogue) return;
  failed_ = true;
  if (state_ == State::preamble) throw MultipartError("multipart body has no boundary");
  throw MultipartError("multipart body ends before its final boundary");
}

std::size_t MultipartReader::process(std::string_view buf) {
  std::size_t pos = 0;
  while (pos < buf.size()) {
    switch (state_) {
      case State::epilogue:
        return buf.size();

      case State::preamble:
      case State::data: {
        const std::size_t found = buf.find(delimiter_, pos);
        if (found == std::string_view::npos) {
          // Hold back only what could be the start of a delimiter split across chunks.
          const std::size_t keep = partial_delimiter_suffix(buf.substr(pos));
          emit_data(buf.substr(pos, buf.size() - keep - pos));
          return buf.size() - keep;
        }
        emit_data(buf.substr(pos, found - pos));
        pos = found;
        std::size_t line_end = 0;
        switch (classify_delimiter(buf, found + delimiter_.size(), line_end)) {
          case Delimiter::need_more:
            return pos;
          case Delimiter::not_a_delimiter:
            // Looks like a delimiter but is followed by other bytes: it is data (RFC 2046
            // forbids it in parts, but being lenient costs nothing here).
            emit_data(buf.substr(pos, 1));
            pos += 1;
            break;
          case Delimiter::next_part:
            if (state_ == State::data && callbacks_.on_part_end) callbacks_.on_part_end();
            state_ = State::headers;
            pos = line_end;
            break;
          case Delimiter::close:
            if (state_ == State::data && callbacks_.on_part_end) callbacks_.on_part_end();
            state_ = State::epilogue;
            if (callbacks_.on_end) callbacks_.on_end();
            return buf.size();
        }
        break;
      }

      case State::headers: {
        const std::string_view rest = buf.substr(pos);
        std::size_t block_end;  // one past the CRLF of the last header line
        std::size_t next;       // the first data byte
        if (rest.substr(0, 2) == "\r\n") {
          block_end = 0;
          next = 2;
        } else {
          const std::size_t blank = rest.find("\r\n\r\n");
          if (blank == std::string_view::npos) {
            // The blank line can still start in the last 3 bytes, ending the block at size - 1:
            // refuse only when even that is over the limit, so chunking never changes the answer.
            if (rest.size() > max_header_bytes_ + 1) throw MultipartError("multipart part headers too large");
            return pos;
          }
          block_end = blank + 2;
          next = blank + 4;
        }
        if (block_end > max_header_bytes_) throw MultipartError("multipart part headers too large");
        MultipartPart part = parse_part_headers(rest.substr(0, block_end));
        state_ = State::data;
        pos += next;
        if (callbacks_.on_part_begin) callbacks_.on_part_begin(part);
        break;
      }
    }
  }
  return pos;
}

// After "\r\n--boundary": "--" closes the body; optional padding then CRLF starts a part.
MultipartReader::Delimiter MultipartReader::classify_delimiter(std::string_view buf, std::size_t i,
                                                              std::size_t& line_end) const {
  if (i >= buf.size()) return Delimiter::need_more;
  if (buf[i] == '-') {
    if (i + 1 >= buf.size()) return Delimiter::need_more;
    return buf[i + 1] == '-' ? Delimiter::close : Delimiter::not_a_delimiter;
  }
  const std::size_t start = i;
  while (i < buf.size() && (buf[i] == ' ' || buf[i] == '\t')) {
    if (++i - start > kMaxPaddingBytes) throw MultipartError("malformed multipart boundary line");
  }
  if (i >= buf.size()) return Delimiter::need_more;
  if (buf[i] != '\r') return Delimiter::not_a_delimiter;
  if (i + 1 >= buf.size()) return Delimiter::need_more;
  if (buf[i + 1] != '\n') return Delimiter::not_a_delimiter;
  line_end = i + 2;
  return Delimiter::next_part;
}

// The length of the longest suffix of `buf` that is a proper prefix of the delimiter.
std::size_t MultipartReader::partial_delimiter_suffix(std::string_view buf) const {
  const std::size_t max = std::min(buf.size(), delimiter_.size() - 1);
  for (std::size_t start = buf.size() - max; start < buf.size(); ++start) {
    if (buf[start] != '\r') continue;  // every delimiter starts with CR
    const std::string_view tail = buf.substr(start);
    if (std::string_view(delimiter_).substr(0, tail.size()) == tail) return tail.size();
  }
  return 0;
}

void MultipartReader::emit_data(std::string_view data) {
  if (data.empty() || state_ != State::data) return;  // preamble bytes are discarded
  if (callbacks_.on_part_data) callbacks_.on_part_data(data);
}

MultipartPart MultipartReader::parse_part_headers(std::string_view block) const {
  MultipartPart part;
  std::string last_name;
  while (!block.empty()) {
    const std::size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
      if (last_name.empty()) throw MultipartError("malformed multipart part header");
      part.headers[last_name] += " " + std::string(trim(line));
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) throw MultipartError("malformed multipart part header");
    last_name = std::string(trim(line.substr(0, colon)));
    part.headers[last_name] = std::string(trim(line.substr(colon + 1)));
  }
  if (auto it = part.headers.find("Content-Disposition"); it != part.headers.end()) {
    auto disposition = parse_header_value(it->second);
    if (const auto* name = disposition.param("name")) part.name = *name;
    if (const auto* filename = disposition.param("filename")) part.filename = *filename;
    if (const auto* ext = disposition.param("filename*")) {
      if (auto decoded = decode_ext_value(*ext)) part.filename = std::move(decoded);
    }
  }
  auto type = part.headers.find("Content-Type");
  part.content_type = type == part.headers.end() ? "text/plain" : type->second;
  return part;
}

}  // namespace vmshare::http
