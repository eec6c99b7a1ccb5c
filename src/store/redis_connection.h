#pragma once
// One synchronous hiredis connection with connect and command timeouts; replies are owned.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/redis_url.h"

struct redisContext;
struct redisReply;

namespace vmshare::store {

// The connection failed (refused, reset, closed, timed out). The connection is unusable.
// `vanished` is true when the server vanished (EOF/reset) rather than timed out: the
// command then most likely never ran, so a stale pooled connection may be retried.
struct RedisIoError : std::runtime_error {
  bool vanished;
  RedisIoError(const std::string& what, bool server_vanished)
      : std::runtime_error(what), vanished(server_vanished) {}
};

// The server answered with an error reply.
struct RedisReplyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RedisReplyDeleter {
  void operator()(redisReply* r) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

class RedisConnection {
 public:
  // Connects, then AUTH and SELECT as the URL asks. Throws RedisIoError or RedisReplyError.
  RedisConnection(const RedisUrl& url, std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // One command; an error reply throws RedisReplyError.
  RedisReplyPtr command(const std::vector<std::string>& args);
  // Several commands in one round trip; replies in order, error replies returned as they are.
  std::vector<RedisReplyPtr> pipeline(const std::vector<std::vector<std::string>>& commands);

 private:
  void append(const std::vector<std::string>& args);
  RedisReplyPtr read_reply();
  [[noreturn]] void io_failure(const char* context);

  redisContext* ctx_ = nullptr;
};

// Reply helpers: strings, integers, arrays (nil reads as empty / 0).
std::string reply_string(const redisReply* r);
long long reply_integer(const redisReply* r);
bool reply_is_nil(const redisReply* r);
bool reply_is_error(const redisReply* r);
std::vector<std::string> reply_strings(const redisReply* r);

}  // namespace vmshare::store
