#pragma once
// Files under the web folder: exact files only (no directory listing), no escape from the folder,
// MIME type by extension.
#include <optional>
#include <string>

#include "http/response.h"

namespace vmshare::http {

std::string mime_type_for(const std::string& path);

// Pure: maps a decoded URL path to a path relative to the web root, or nullopt when it could
// leave the root or names a hidden file ("..", ".git", backslashes, NUL, empty segments).
std::optional<std::string> safe_relative_path(const std::string& url_path);

class StaticFiles {
 public:
  explicit StaticFiles(std::string root);
  // 404 for anything that is not a regular file inside the root.
  Response serve(const std::string& url_path) const;
  // A named file of the root (the pages), with no caching.
  Response page(const std::string& relative) const;
  const std::string& root() const { return root_; }

 private:
  std::string root_;  // canonical
};

}  // namespace vmshare::http
