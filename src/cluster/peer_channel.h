#pragma once
// One HTTP exchange with a peer node's internal listener, with timeouts that hold. Beast applies
// a tcp_stream's expiry to asynchronous operations only, so every blocking step here is an
// asynchronous one run to its end on the channel's own io_context: a peer that stops answering
// or reading costs a timeout (the caller then answers 503), never a worker for good.
#include <chrono>
#include <string>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace vmshare::cluster {

struct PeerAddress {
  std::string host;
  std::string port;
};

struct ForwardTimeouts {
  std::chrono::milliseconds connect{std::chrono::seconds(5)};
  // Until the peer's answer begins: longer than anything a node does for one request (a
  // snapshot's copy is given 10 minutes, a stop VMSHARE_STOP_TIMEOUT_S, at most 600 s).
  std::chrono::milliseconds answer{std::chrono::minutes(15)};
  // Any one write to the peer, or read of its answer's body, that moves nothing this long.
  std::chrono::milliseconds progress{std::chrono::minutes(3)};
};

class PeerChannel {
 public:
  // Connects; throws boost::system::system_error (refused, unresolvable, timed out).
  PeerChannel(const PeerAddress& peer, const ForwardTimeouts& timeouts);

  boost::beast::tcp_stream& stream() { return stream_; }
  const ForwardTimeouts& timeouts() const { return timeouts_; }

  // Runs the asynchronous operation `start(handler)` begins to its end, within `limit` (then
  // boost::beast::error::timeout, and the connection is closed).
  template <class Start>
  boost::beast::error_code run(std::chrono::milliseconds limit, Start&& start) {
    boost::beast::error_code result = boost::asio::error::would_block;
    stream_.expires_after(limit);
    start([&result](boost::beast::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  // The peer has sent something not read yet (an early answer, or its close).
  bool has_spoken();

 private:
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_{io_};
  ForwardTimeouts timeouts_;
};

}  // namespace vmshare::cluster
