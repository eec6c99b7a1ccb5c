#include "cluster/peer_channel.h"

#include <poll.h>

#include <boost/asio/ip/tcp.hpp>

namespace vmshare::cluster {

PeerChannel::PeerChannel(const PeerAddress& peer, const ForwardTimeouts& timeouts) : timeouts_(timeouts) {
  boost::asio::ip::tcp::resolver resolver(io_);
  const auto endpoints = resolver.resolve(peer.host, peer.port);  // numeric in practice: no wait
  const auto ec = run(timeouts_.connect, [&](auto handler) { stream_.async_connect(endpoints, std::move(handler)); });
  if (ec) throw boost::system::system_error(ec, "connect");
  // Requests and bodies go out in whole writes: no Nagle wait for the tail of each.
  boost::system::error_code ignored;
  stream_.socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
}

bool PeerChannel::has_spoken() {
  pollfd pfd{stream_.socket().native_handle(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
}

}  // namespace vmshare::cluster
