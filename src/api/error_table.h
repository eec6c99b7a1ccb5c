#pragma once
// The one table from typed errors to what the client sees (status, {"detail"}, headers) and what
// the log keeps. Every module throws its own types (vm/errors.h, QmpError, store, obs, http) and
// never HTTP; handlers throw ApiError only for decisions of their own. The server applies the
// table to every route and WebSocket upgrade through http::ServerOptions::map_error.
//
// Details are safe to show: a type's message is shown only where its type promises a sentence
// written for users; otherwise the client gets a generic sentence and the real text goes to the
// log (QMP's desc, errno text, qemu-img's output), with server paths cut to file names.
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "http/request.h"
#include "http/response.h"

namespace vmshare::api {

enum class LogLevel { none, info, warn, error };

struct ErrorReply {
  int status = 500;
  std::string detail;  // the client's {"detail"}
  std::vector<std::pair<std::string, std::string>> headers;
  bool close_connection = false;
  LogLevel log_level = LogLevel::none;
  std::string log_text;  // for the log only; never a server path
  std::string cap;       // a cap refused the request: counted in vmshare_cap_refusals_total{cap}
};

// Pure: which reply the thrown error gets (any exception, std or not).
ErrorReply map_error(std::exception_ptr error);

// The server's hook: logs what map_error says to log (with the method and route), counts cap
// refusals, and answers.
http::Response error_response_for(std::exception_ptr error, const http::Request& request);

// Absolute paths in `text` cut to their file name (".../disk.qcow2"), for log lines.
std::string without_server_paths(const std::string& text);

}  // namespace vmshare::api
