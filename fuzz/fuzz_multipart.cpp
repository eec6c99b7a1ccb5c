// The streaming multipart reader fed the same body twice: whole, and cut into chunks whose sizes
// come from the input. Both runs must report the same parts, names, filenames and data (or both
// fail): the upload path sees whatever chunking TCP delivers.
//
// Input: <chunk seed byte><Content-Type line>\n<body>. When the Content-Type yields no boundary,
// the line itself (cut to 70 bytes) is used as the boundary so the reader still runs.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "http/multipart_reader.h"

using namespace vmshare::http;

namespace {

// Small limit so the header-size checks are reachable with short inputs.
constexpr std::size_t kMaxHeaderBytes = 64;

std::string run(const std::string& boundary, std::string_view body, std::uint8_t seed, bool chunked) {
  std::string log;
  MultipartReader::Callbacks cb;
  cb.on_part_begin = [&](const MultipartPart& p) {
    log += "B[" + p.name + "][" + p.filename.value_or("-") + "][" + p.content_type + "]";
  };
  cb.on_part_data = [&](std::string_view d) {
    if (d.empty()) __builtin_trap();  // empty pieces are never reported
    log.append(d);
  };
  cb.on_part_end = [&] { log += "E"; };
  cb.on_end = [&] { log += "Z"; };
  try {
    MultipartReader reader(boundary, cb, kMaxHeaderBytes);
    if (!chunked) {
      reader.feed(body);
    } else {
      std::uint32_t state = seed * 2654435761u + 1;
      while (!body.empty()) {
        state = state * 1103515245u + 12345u;
        const std::size_t n = std::min<std::size_t>(body.size(), 1 + (state >> 16) % 9);
        reader.feed(body.substr(0, n));
        body.remove_prefix(n);
      }
      reader.feed({});
    }
    reader.finish();
    log += "!ok";
  } catch (const MultipartError& e) {
    log += std::string("!error: ") + e.what();
  }
  return log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t seed = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  const std::string_view type = in.substr(0, nl);
  const std::string_view body = in.substr(nl + 1);

  std::string boundary;
  if (auto b = multipart_boundary(type)) {
    if (b->empty() || b->size() > 70) __builtin_trap();  // RFC 2046 bounds
    boundary = *b;
  } else {
    boundary = std::string(type.substr(0, 70));
  }
  if (boundary.empty()) return 0;

  const std::string whole = run(boundary, body, seed, false);
  const std::string pieces = run(boundary, body, seed, true);
  if (whole != pieces) {
    std::fprintf(stderr, "whole : %s\npieces: %s\n", whole.c_str(), pieces.c_str());
    __builtin_trap();
  }
  return 0;
}
