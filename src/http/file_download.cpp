#include "http/file_download.h"

#include <sys/stat.h>

#include "core/percent_encode.h"
#include "http/byte_range.h"

namespace vmshare::http {

Response file_download_response(const FileDownload& file, const std::string* range_header) {
  const auto size = std::to_string(file.size);
  const auto decision = decide_range(range_header, file.size);
  if (decision.kind == RangeKind::unsatisfiable) {
    auto e = error_response(416, "Requested range not satisfiable");
    e.header("Content-Range", "bytes */" + size);
    return e;
  }
  Response r;
  r.content_type = "application/octet-stream";
  r.header("Accept-Ranges", "bytes");
  r.header("Content-Disposition", file.disposition);
  r.header("Cache-Control", "private, no-store");
  if (decision.kind == RangeKind::partial) {
    r.status = 206;
    r.header("Content-Range", "bytes " + std::to_string(decision.range.first) + "-" +
                                  std::to_string(decision.range.last) + "/" + size);
    r.file = FileBody{file.path, decision.range.first, decision.range.length()};
  } else {
    r.file = FileBody{file.path, 0, file.size};
  }
  return r;
}

std::string attachment_disposition(std::string_view name) {
  std::string ascii;
  for (unsigned char c : name) ascii += (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ';') ? '_' : char(c);
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + percent_encode(name);
}

std::optional<std::uint64_t> file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace vmshare::http
