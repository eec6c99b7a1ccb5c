#pragma once
// Headers every response of ours carries, whichever way its body is sent.
#include <boost/beast/http/fields.hpp>

namespace vmshare::http {

inline void add_common_headers(boost::beast::http::fields& fields) {
  fields.set(boost::beast::http::field::server, "vmshare");
  fields.set("X-Content-Type-Options", "nosniff");
  fields.set("Referrer-Policy", "same-origin");
}

}  // namespace vmshare::http
