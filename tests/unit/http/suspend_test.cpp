// Request::suspend: a handler that answers later frees its worker at once; the continuation
// runs on a worker after the handler returned, and its errors map like a handler's.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/server.h"

namespace vmshare::http {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// A keep-alive client connection.
class Client {
 public:
  explicit Client(int port) : socket_(io_) { socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port)); }
  void send(const std::string& target) {
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(socket_, req);
  }
  bhttp::response<bhttp::string_body> receive() {
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket_, buffer_, res);
    return res;
  }
  bhttp::response<bhttp::string_body> get(const std::string& target) {
    send(target);
    return receive();
  }

 private:
  net::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

class SuspendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.get("/now", [](Request&) { return Response{200, "text/plain", "now"}; });
    router_.get("/later", [this](Request& r) {
      auto resume = r.suspend();
      waiter_ = std::thread([this, resume] {
        gate_.get_future().wait();
        resume([] { return Response{200, "text/plain", "later"}; });
      });
      return Response{500, "text/plain", "ignored"};
    });
    // Resumed before the handler has even returned: the continuation must wait for it.
    router_.get("/early", [](Request& r) {
      r.suspend()([] { return Response{201, "text/plain", "early"}; });
      return Response{500, "text/plain", "ignored"};
    });
    router_.get("/throws", [](Request& r) {
      r.suspend()([]() -> Response { throw std::runtime_error("slow down"); });
      return Response{};
    });
    router_.get("/twice", [](Request& r) {
      r.suspend()([&r] {
        std::thread([resume = r.suspend()] { resume([] { return Response{200, "text/plain", "twice"}; }); }).detach();
        return Response{};
      });
      return Response{};
    });
    ServerOptions options;
    options.port = 0;
    options.worker_threads = 1;  // one worker: a held one would block everything else
    // The server's one error mapper answers for continuations too.
    options.map_error = [](std::exception_ptr e, const Request&) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        Response r{429, "text/plain", x.what()};
        r.header("Retry-After", "7");
        return r;
      }
    };
    server_ = std::make_unique<Server>(options, router_);
    server_->listen();
    runner_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (waiter_.joinable()) {
      try { gate_.set_value(); } catch (...) {}
      waiter_.join();
    }
    server_->shutdown(std::chrono::seconds(1));
    runner_.join();
  }

  Router router_;
  std::unique_ptr<Server> server_;
  std::thread runner_, waiter_;
  std::promise<void> gate_;
};

TEST_F(SuspendTest, ASuspendedRequestHoldsNoWorker) {
  Client held(server_->port());
  held.send("/later");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it reach its handler
  Client other(server_->port());
  auto now = other.get("/now");  // the only worker is free although /later has no answer yet
  EXPECT_EQ(now.result_int(), 200);
  EXPECT_EQ(now.body(), "now");
  gate_.set_value();
  auto later = held.receive();
  EXPECT_EQ(later.result_int(), 200);
  EXPECT_EQ(later.body(), "later");
}

TEST_F(SuspendTest, ResumedBeforeTheHandlerReturned) {
  Client c(server_->port());
  for (int i = 0; i < 50; ++i) {
    auto res = c.get("/early");  // keep-alive: the connection carries on after each
    ASSERT_EQ(res.result_int(), 201);
    EXPECT_EQ(res.body(), "early");
  }
  EXPECT_EQ(c.get("/now").body(), "now");
}

TEST_F(SuspendTest, ContinuationErrorsMapLikeAHandlers) {
  Client c(server_->port());
  auto res = c.get("/throws");
  EXPECT_EQ(res.result_int(), 429);
  EXPECT_EQ(res[bhttp::field::retry_after], "7");
  EXPECT_NE(res.body().find("slow down"), std::string::npos);
}

TEST_F(SuspendTest, AContinuationMaySuspendAgain) {
  Client c(server_->port());
  EXPECT_EQ(c.get("/twice").body(), "twice");
}

}  // namespace
}  // namespace vmshare::http
