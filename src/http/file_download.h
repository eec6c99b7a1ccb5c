#pragma once
// A stored file sent as an attachment, whole or one Range (RFC 9110): snapshots, recordings and
// files back from a drop stick all answer the same way. Deciding the answer is pure (the body is a
// FileBody the server opens when it writes); only file_size touches the disk.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/response.h"

namespace vmshare::http {

struct FileDownload {
  std::string path;
  std::uint64_t size = 0;
  std::string disposition;  // the Content-Disposition value
};

// 200 with the whole file, 206 with one range, or 416 {"detail"} with "Content-Range: bytes */size".
// Every 200/206 says Accept-Ranges: bytes and Cache-Control: private, no-store.
Response file_download_response(const FileDownload& file, const std::string* range_header);

// attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<the name> (RFC 6266), for names a
// user or a guest chose: quotes, backslashes, semicolons and non-ASCII cannot break the header.
std::string attachment_disposition(std::string_view name);

// The size of a regular file, or nullopt when there is none at `path`.
std::optional<std::uint64_t> file_size(const std::string& path);

}  // namespace vmshare::http
