#pragma once
// One HTTP connection: reads a request header, routes it, reads or streams the body, runs the
// handler on a worker, writes the response, and repeats while keep-alive holds.
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "http/server_state.h"

namespace vmshare::http {

std::shared_ptr<HttpSession> start_http_session(boost::asio::ip::tcp::socket socket,
                                                std::shared_ptr<Server::State> state);
// Closes the connection if it is between requests; otherwise after the current response.
void close_http_session_when_idle(const std::shared_ptr<HttpSession>& session);

}  // namespace vmshare::http
