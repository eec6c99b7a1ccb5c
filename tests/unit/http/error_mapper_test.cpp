// The server's answer to a thrown error when no table is injected (tests, tools): it still
// answers, and tells the client nothing of the error's text.
#include "http/error_mapper.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "core/errors.h"

using namespace vmshare::http;

namespace {

Request request() {
  Request r;
  r.method = "GET";
  r.route = "/x";
  return r;
}

TEST(DefaultErrorResponse, BodyTooLargeIs413AndClosesTheConnection) {
  const auto r = default_error_response(std::make_exception_ptr(BodyTooLarge()), request());
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, R"({"detail":"Request body too large"})");
  EXPECT_TRUE(r.close_connection);
}

TEST(DefaultErrorResponse, ApiErrorIsItsOwnAnswer) {
  const auto r = default_error_response(
      std::make_exception_ptr(vmshare::ApiError(429, "slow down", {{"Retry-After", "7"}})), request());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, R"({"detail":"slow down"})");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].second, "7");
}

TEST(DefaultErrorResponse, AnythingElseIsAGeneric500) {
  for (auto error : {std::make_exception_ptr(std::runtime_error("open /srv/secret failed")),
                     std::make_exception_ptr(BodyReadError("upload interrupted")), std::make_exception_ptr(7)}) {
    const auto r = default_error_response(error, request());
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, R"({"detail":"Internal server error"})");
    EXPECT_FALSE(r.close_connection);
  }
}

}  // namespace
