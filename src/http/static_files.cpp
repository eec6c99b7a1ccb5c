#include "http/static_files.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <map>

namespace vmshare::http {

std::string mime_type_for(const std::string& path) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"}, {".ico", "image/x-icon"},
      {".webp", "image/webp"}, {".woff", "font/woff"}, {".woff2", "font/woff2"}, {".ttf", "font/ttf"},
      {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"}, {".wasm", "application/wasm"},
  };
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "application/octet-stream";
  std::string ext = path.substr(dot);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = types.find(ext);
  return it == types.end() ? "application/octet-stream" : it->second;
}

std::optional<std::string> safe_relative_path(const std::string& url_path) {
  if (url_path.empty() || url_path[0] != '/') return std::nullopt;
  if (url_path.find('\\') != std::string::npos || url_path.find('\0') != std::string::npos) return std::nullopt;
  std::string out;
  std::size_t start = 1;
  while (start <= url_path.size()) {
    auto end = url_path.find('/', start);
    if (end == std::string::npos) end = url_path.size();
    const auto segment = url_path.substr(start, end - start);
    if (segment.empty() || segment[0] == '.') return std::nullopt;  // "//", "..", hidden files
    out += (out.empty() ? "" : "/") + segment;
    start = end + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

StaticFiles::StaticFiles(std::string root) {
  char resolved[PATH_MAX];
  root_ = ::realpath(root.c_str(), resolved) ? std::string(resolved) : root;
}

Response StaticFiles::serve(const std::string& url_path) const {
  auto relative = safe_relative_path(url_path);
  if (!relative) return error_response(404, "Not Found");
  const std::string full = root_ + "/" + *relative;
  char resolved[PATH_MAX];
  // A symlink out of the root would be an escape too.
  if (!::realpath(full.c_str(), resolved)) return error_response(404, "Not Found");
  const std::string canonical(resolved);
  if (canonical.compare(0, root_.size() + 1, root_ + "/") != 0) return error_response(404, "Not Found");
  struct stat st {};
  if (::stat(canonical.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return error_response(404, "Not Found");
  Response r;
  r.content_type = mime_type_for(canonical);
  r.file = FileBody{canonical, 0, static_cast<std::uint64_t>(st.st_size)};
  // Vendored and built assets change only with a deployment.
  r.header("Cache-Control", "public, max-age=300");
  return r;
}

Response StaticFiles::page(const std::string& relative) const {
  auto r = serve("/" + relative);
  if (r.status == 200) {
    r.headers.clear();
    r.header("Cache-Control", "no-store");
  }
  return r;
}

}  // namespace vmshare::http
