#include "http/response_stream_writer.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include "http/common_headers.h"

namespace vmshare::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

ResponseStreamWriter::ResponseStreamWriter(beast::tcp_stream& stream, Options options)
    : stream_(stream), options_(options) {}

void ResponseStreamWriter::begin(const Response& head, std::optional<std::uint64_t> content_length) {
  if (begun_) return;
  begun_ = true;
  net::post(stream_.get_executor(), [self = shared_from_this(), head, content_length] {
    self->start(head, content_length);
  });
}

bool ResponseStreamWriter::write(std::string_view chunk) {
  if (!begun_ || gate_.closed()) return false;
  if (chunk.empty()) return true;
  // The client must take what is queued within the read timeout, as a reading client must send.
  if (!gate_.acquire(chunk.size(), std::chrono::steady_clock::now() + options_.timeout)) {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->fail(beast::error::timeout); });
    return false;
  }
  net::post(stream_.get_executor(), [self = shared_from_this(), data = std::string(chunk)]() mutable {
    if (self->failed_) return;
    self->queue_.push_back(std::move(data));
    self->pump();
  });
  return true;
}

void ResponseStreamWriter::end() { ended_ = true; }

void ResponseStreamWriter::finish(Done done) {
  net::post(stream_.get_executor(), [self = shared_from_this(), done = std::move(done), complete = ended_]() mutable {
    self->done_ = std::move(done);
    if (complete) {
      self->complete_ = true;
      self->pump();
    } else {
      self->fail(bhttp::error::partial_message);  // the handler gave up mid-body
    }
    self->maybe_done();
  });
}

void ResponseStreamWriter::start(Response head, std::optional<std::uint64_t> content_length) {
  status_ = head.status;
  // These never carry a body (RFC 9110 6.4.1); HEAD's headers describe the body GET would send.
  no_body_ = options_.head_request || status_ / 100 == 1 || status_ == 204 || status_ == 304;
  keep_alive_ = options_.keep_alive && !head.close_connection;
  res_.result(static_cast<unsigned>(status_));
  res_.version(11);
  add_common_headers(res_.base());
  res_.set(bhttp::field::content_type, head.content_type);
  for (auto& [name, value] : head.headers) res_.insert(name, value);
  res_.keep_alive(keep_alive_);
  if (content_length && (!no_body_ || options_.head_request))
    res_.content_length(*content_length);
  else if (!no_body_)
    res_.chunked(true);
  res_.body().data = nullptr;
  res_.body().size = 0;
  res_.body().more = true;
  sr_.emplace(res_);
  writing_ = true;
  stream_.expires_after(options_.timeout);
  bhttp::async_write_header(stream_, *sr_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_written(ec, false);
  });
}

void ResponseStreamWriter::pump() {
  if (writing_ || failed_ || !sr_) return;
  if (no_body_) {
    queue_.clear();
    if (complete_) end_written_ = true;
    return maybe_done();
  }
  bool last = false;
  if (!queue_.empty()) {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    res_.body().data = current_.data();
    res_.body().size = current_.size();
    res_.body().more = true;
  } else if (complete_ && !end_written_) {
    current_.clear();
    res_.body().data = nullptr;
    res_.body().size = 0;
    res_.body().more = false;
    last = true;
  } else {
    return;  // waiting for the handler
  }
  writing_ = true;
  stream_.expires_after(options_.timeout);
  bhttp::async_write(stream_, *sr_, [self = shared_from_this(), last](beast::error_code ec, std::size_t) {
    self->on_written(ec, last);
  });
}

void ResponseStreamWriter::on_written(beast::error_code ec, bool last) {
  writing_ = false;
  if (ec == bhttp::error::need_buffer) ec = {};  // the chunk is out; the serializer wants the next
  if (ec) return fail(ec);
  gate_.release(current_.size());
  current_.clear();
  if (last) end_written_ = true;
  pump();
  maybe_done();
}

void ResponseStreamWriter::fail(beast::error_code ec) {
  if (!failed_) {
    failed_ = true;
    fail_ec_ = ec;
    gate_.close();
    queue_.clear();
    // The client must see the response incomplete, and a pending write must end now.
    beast::error_code ignored;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
  }
  maybe_done();
}

void ResponseStreamWriter::maybe_done() {
  if (!done_ || writing_ || !(failed_ || end_written_)) return;
  stream_.expires_never();
  auto done = std::move(done_);
  done_ = nullptr;
  done(failed_ ? fail_ec_ : beast::error_code{}, status_, keep_alive_ && !failed_);
}

}  // namespace vmshare::http
