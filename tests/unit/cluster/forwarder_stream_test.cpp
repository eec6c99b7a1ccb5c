// Forwarder::forward_streaming against a tiny peer on loopback: the body arrives whole with the
// client's framing and signed headers, a peer's early refusal comes back as its status without
// the rest of the body being pulled, the client's own errors pass through, and a peer that
// cannot be reached is PeerUnavailable (503).
#include "cluster/forwarder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "cluster/errors.h"
#include "cluster/request_signing.h"

using namespace vmshare::cluster;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

const std::string kKey = "a-cluster-key-of-at-least-32-characters";

// What the peer saw of the one request it took.
struct Seen {
  std::string body;
  bool chunked = false;
  std::string content_length;
  bool signed_ok = false;
  std::string cookie;
};

// One connection, answered by `refuse_early` (status after the header only; kHangUp: closed
// without an answer; kSilent: the whole request read, never answered; kDeaf: nothing read until
// `release`) or with 200 after the whole body.
constexpr int kHangUp = -1;
constexpr int kSilent = -2;
constexpr int kDeaf = -3;
class Peer {
 public:
  explicit Peer(int refuse_early = 0) : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, refuse_early] {
      try {
        serve(refuse_early);
      } catch (const std::exception&) {  // the forwarder cut the request short
      }
    });
  }
  ~Peer() {
    release = true;
    thread_.join();
  }
  PeerAddress address() const { return {"127.0.0.1", std::to_string(acceptor_.local_endpoint().port())}; }
  Seen seen;
  std::atomic<bool> release{false};

 private:
  void serve(int refuse_early) {
    net::ip::tcp::socket socket(io_);
    acceptor_.accept(socket);
    if (refuse_early == kDeaf) {
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return;
    }
    beast::flat_buffer buffer;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    bhttp::read_header(socket, buffer, parser);
    const auto& head = parser.get();
    seen.chunked = parser.chunked();
    seen.content_length = std::string(head[bhttp::field::content_length]);
    seen.cookie = std::string(head["Cookie"]);
    SignedFields f{std::string(head.method_string()), std::string(head.target()),
                   std::stoll(std::string(head[kHeaderTime])), std::string(head[kHeaderNonce]),
                   std::string(head[kHeaderNode])};
    NonceCache nonces;
    seen.signed_ok = verify_request(kKey, f, std::string(head[kHeaderSignature]), f.timestamp, 30, nonces) == Verdict::ok;
    if (refuse_early == kHangUp) return;  // the socket closes unanswered
    if (refuse_early == kSilent) {
      bhttp::read(socket, buffer, parser);
      char sink[64];
      beast::error_code ec;
      while (!ec) socket.read_some(net::buffer(sink), ec);  // until the forwarder gives up
      return;
    }
    bhttp::response<bhttp::string_body> answer{bhttp::status::ok, 11};
    if (refuse_early) {
      answer.result(static_cast<unsigned>(refuse_early));
      answer.body() = R"({"detail":"refused"})";
    } else {
      bhttp::read(socket, buffer, parser);
      seen.body = parser.get().body();
      answer.body() = R"({"got":)" + std::to_string(seen.body.size()) + "}";
    }
    answer.set(bhttp::field::content_type, "application/json");
    answer.set("X-Peer", "yes");
    answer.prepare_payload();
    bhttp::write(socket, answer);
    // Like vmshare's server: stop sending, then take what still comes so the answer is not reset.
    beast::error_code ec;
    socket.shutdown(net::ip::tcp::socket::shutdown_send, ec);
    char sink[4096];
    while (!ec) socket.read_some(net::buffer(sink), ec);
  }

  net::io_context io_;
  net::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// A client body of `size` bytes served in small reads; counts what the forwarder pulled.
vmshare::http::Request upload(std::size_t size, bool with_length, std::shared_ptr<std::size_t> pulled) {
  vmshare::http::Request r;
  r.method = "POST";
  r.target = "/vm/drop";
  r.headers["Cookie"] = "access_token=t";
  r.headers["Content-Type"] = "multipart/form-data; boundary=x";
  r.headers["Content-Length"] = std::to_string(size);
  r.headers["Expect"] = "100-continue";
  if (with_length) r.content_length = size;
  r.read_body = [size, pulled](char* out, std::size_t n) -> std::size_t {
    const std::size_t take = std::min({n, size - *pulled, std::size_t{10000}});
    std::fill(out, out + take, static_cast<char>('a' + (*pulled % 26)));
    *pulled += take;
    return take;
  };
  return r;
}

}  // namespace

TEST(ForwardStreaming, FramingFollowsTheClient) {
  EXPECT_FALSE(streamed_body_framing(std::uint64_t{42}).chunked);
  EXPECT_EQ(streamed_body_framing(std::uint64_t{42}).content_length, 42u);
  EXPECT_TRUE(streamed_body_framing(std::nullopt).chunked);
  vmshare::http::HeaderMap in{{"Expect", "100-continue"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "9"},
                              {"Cookie", "c"}};
  const auto out = forwarded_request_headers(in);
  ASSERT_EQ(out.size(), 1u);  // the framing is the forwarder's own; 100-continue is between client and us
  EXPECT_EQ(out[0].first, "Cookie");
}

TEST(ForwardStreaming, BodyArrivesWholeWithContentLength) {
  Peer peer;
  auto pulled = std::make_shared<std::size_t>(0);
  auto request = upload(1'000'003, true, pulled);
  const auto answer = Forwarder("node1", kKey).forward_streaming(peer.address(), request);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, R"({"got":1000003})");
  EXPECT_EQ(answer.content_type, "application/json");
  EXPECT_FALSE(peer.seen.chunked);
  EXPECT_EQ(peer.seen.content_length, "1000003");
  EXPECT_TRUE(peer.seen.signed_ok);
  EXPECT_EQ(peer.seen.cookie, "access_token=t");
  ASSERT_EQ(peer.seen.body.size(), 1'000'003u);
  EXPECT_EQ(peer.seen.body[0], 'a');
  EXPECT_EQ(peer.seen.body[10000], 'a' + (10000 % 26));
}

TEST(ForwardStreaming, ChunkedWhenTheClientGaveNoLength) {
  Peer peer;
  auto pulled = std::make_shared<std::size_t>(0);
  auto request = upload(300'000, false, pulled);
  const auto answer = Forwarder("node1", kKey).forward_streaming(peer.address(), request);
  EXPECT_EQ(answer.status, 200);
  EXPECT_TRUE(peer.seen.chunked);
  EXPECT_EQ(peer.seen.body.size(), 300'000u);
}

TEST(ForwardStreaming, AnEarlyRefusalComesBackWithoutTheRestOfTheBody) {
  Peer peer(409);
  auto pulled = std::make_shared<std::size_t>(0);
  auto request = upload(64u << 20, true, pulled);
  const auto answer = Forwarder("node1", kKey).forward_streaming(peer.address(), request);
  EXPECT_EQ(answer.status, 409);
  EXPECT_EQ(answer.body, R"({"detail":"refused"})");
  EXPECT_LT(*pulled, std::size_t{64} << 20) << "the forwarder stopped pulling the client's body";
}

TEST(ForwardStreaming, APeerThatHangsUpMidBodyIsUnavailable) {
  Peer peer(kHangUp);
  auto pulled = std::make_shared<std::size_t>(0);
  auto request = upload(64u << 20, true, pulled);
  EXPECT_THROW(Forwarder("node1", kKey).forward_streaming(peer.address(), request), PeerUnavailable);
  EXPECT_LT(*pulled, std::size_t{64} << 20);
}

// Beast's expiry holds only for asynchronous operations: these would block for good otherwise.
const ForwardTimeouts kShort{std::chrono::seconds(1), std::chrono::milliseconds(300), std::chrono::milliseconds(300)};

TEST(ForwardTimeouts, APeerThatNeverAnswersIsUnavailable) {
  Peer peer(kSilent);
  vmshare::http::Request request;
  request.method = "POST";
  request.target = "/vm/stop";
  request.body = "{}";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(Forwarder("node1", kKey, kShort).forward(peer.address(), request), PeerUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(ForwardTimeouts, APeerThatTakesNoBodyIsUnavailable) {
  Peer peer(kDeaf);
  auto pulled = std::make_shared<std::size_t>(0);
  auto request = upload(256u << 20, true, pulled);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(Forwarder("node1", kKey, kShort).forward_streaming(peer.address(), request), PeerUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_LT(*pulled, std::size_t{256} << 20) << "stopped at the peer's pace";
}

TEST(ForwardStreaming, TheClientsErrorsPassThrough) {
  Peer peer;
  vmshare::http::Request request;
  request.method = "POST";
  request.target = "/vm/drop";
  request.content_length = 100;
  request.read_body = [](char*, std::size_t) -> std::size_t { throw vmshare::http::BodyTooLarge(); };
  EXPECT_THROW(Forwarder("node1", kKey).forward_streaming(peer.address(), request), vmshare::http::BodyTooLarge);
}

TEST(ForwardStreaming, AnUnreachablePeerIsUnavailable) {
  PeerAddress nobody;
  {
    net::io_context io;
    net::ip::tcp::acceptor a(io, {net::ip::make_address("127.0.0.1"), 0});
    nobody = {"127.0.0.1", std::to_string(a.local_endpoint().port())};
  }  // closed: connections are refused
  auto pulled = std::make_shared<std::size_t>(0);
  auto request = upload(10, true, pulled);
  EXPECT_THROW(Forwarder("node1", kKey).forward_streaming(nobody, request), PeerUnavailable);
  EXPECT_EQ(*pulled, 0u);
}
