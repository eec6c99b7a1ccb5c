#pragma once
// A Beast body that sends `length` bytes of an open file from its current position: Beast's
// file_body always sends to the end of the file, which cannot serve a Range request.
#include <cstdint>

#include <boost/beast/core/file.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

namespace vmshare::http {

struct FileRangeBody {
  struct value_type {
    boost::beast::file file;
    std::uint64_t length = 0;
  };

  static std::uint64_t size(const value_type& body) { return body.length; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body), remain_(body.length) {}

    void init(boost::beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      const auto amount = remain_ > sizeof(buf_) ? sizeof(buf_) : static_cast<std::size_t>(remain_);
      if (amount == 0) {
        ec = {};
        return boost::none;
      }
      const auto got = body_.file.read(buf_, amount, ec);
      if (ec) return boost::none;
      if (got == 0) {
        ec = boost::beast::http::error::short_read;
        return boost::none;
      }
      remain_ -= got;
      return {{const_buffers_type{buf_, got}, remain_ > 0}};
    }

   private:
    value_type& body_;
    std::uint64_t remain_;
    char buf_[64 * 1024];
  };
};

}  // namespace vmshare::http
