#pragma once
// The connection's side of a ResponseStream: the handler's worker hands over the head and the
// chunks; the connection's strand writes them with a buffer_body serializer, one write at a
// time (Beast's relay pattern), with the server's read timeout on each write. A FlowGate holds
// the worker back while kMaxQueuedBytes wait for the client.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>

#include "http/flow_gate.h"
#include "http/response_stream.h"

namespace vmshare::http {

class ResponseStreamWriter final : public ResponseStream, public std::enable_shared_from_this<ResponseStreamWriter> {
 public:
  struct Options {
    bool keep_alive = true;
    bool head_request = false;         // headers only, whatever the handler writes
    std::chrono::seconds timeout{30};  // for each write to the client
  };
  // On the connection's strand, once: ec empty when the whole response went out (keep_alive
  // says whether the connection may serve another request), set when it was cut short.
  using Done = std::function<void(boost::beast::error_code ec, int status, bool keep_alive)>;

  // `stream` must outlive the writer's operations (the connection holds both).
  ResponseStreamWriter(boost::beast::tcp_stream& stream, Options options);

  // ResponseStream: the handler's worker thread.
  void begin(const Response& head, std::optional<std::uint64_t> content_length) override;
  bool write(std::string_view chunk) override;
  void end() override;
  bool begun() const override { return begun_; }

  // The handler has returned (same worker thread); only after begin().
  void finish(Done done);

 private:
  using response_type = boost::beast::http::response<boost::beast::http::buffer_body>;

  void start(Response head, std::optional<std::uint64_t> content_length);  // strand from here on
  void pump();
  void on_written(boost::beast::error_code ec, bool last);
  void fail(boost::beast::error_code ec);
  void maybe_done();

  boost::beast::tcp_stream& stream_;
  const Options options_;
  FlowGate gate_{kMaxQueuedBytes};
  // Worker side.
  bool begun_ = false;
  bool ended_ = false;
  // Strand side.
  response_type res_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::buffer_body>> sr_;
  std::deque<std::string> queue_;
  std::string current_;
  int status_ = 0;
  bool no_body_ = false;
  bool keep_alive_ = true;
  bool writing_ = false;
  bool complete_ = false;      // the handler ended the body
  bool end_written_ = false;   // the last byte is out
  bool failed_ = false;
  boost::beast::error_code fail_ec_;
  Done done_;
};

}  // namespace vmshare::http
