#include "store/redis_connection.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>

namespace vmshare::store {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* r) const { freeReplyObject(r); }

RedisConnection::RedisConnection(const RedisUrl& url, std::chrono::milliseconds timeout) {
  ctx_ = redisConnectWithTimeout(url.host.c_str(), url.port, to_timeval(timeout));
  if (!ctx_) throw RedisIoError("redis: out of memory", false);
  if (ctx_->err) io_failure("connect");
  if (redisSetTimeout(ctx_, to_timeval(timeout)) != REDIS_OK) io_failure("set timeout");
  if (!url.password.empty()) {
    // The password goes on the wire only; errors quote the server's reply, never our args.
    if (url.username.empty())
      command({"AUTH", url.password});
    else
      command({"AUTH", url.username, url.password});
  }
  if (url.db != 0) command({"SELECT", std::to_string(url.db)});
}

RedisConnection::~RedisConnection() {
  if (ctx_) redisFree(ctx_);
}

void RedisConnection::io_failure(const char* context) {
  const int err = ctx_->err;
  const int saved_errno = errno;
  std::string msg = std::string("redis ") + context + ": " + ctx_->errstr;
  // EOF or a reset means the server went away; EAGAIN is our command timeout.
  const bool vanished = err == REDIS_ERR_EOF ||
                        (err == REDIS_ERR_IO && saved_errno != EAGAIN && saved_errno != EWOULDBLOCK &&
                         saved_errno != EINPROGRESS);
  throw RedisIoError(msg, vanished);
}

void RedisConnection::append(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) !=
      REDIS_OK)
    io_failure("append");
}

RedisReplyPtr RedisConnection::read_reply() {
  void* raw = nullptr;
  errno = 0;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) io_failure("reply");
  return RedisReplyPtr(static_cast<redisReply*>(raw));
}

RedisReplyPtr RedisConnection::command(const std::vector<std::string>& args) {
  append(args);
  auto r = read_reply();
  if (r->type == REDIS_REPLY_ERROR) throw RedisReplyError("redis: " + reply_string(r.get()));
  return r;
}

std::vector<RedisReplyPtr> RedisConnection::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  for (const auto& c : commands) append(c);
  std::vector<RedisReplyPtr> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) out.push_back(read_reply());
  return out;
}

std::string reply_string(const redisReply* r) {
  if (!r || !r->str) return {};
  return std::string(r->str, r->len);
}

long long reply_integer(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) {
    try {
      return std::stoll(reply_string(r));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

bool reply_is_nil(const redisReply* r) { return !r || r->type == REDIS_REPLY_NIL; }
bool reply_is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

std::vector<std::string> reply_strings(const redisReply* r) {
  std::vector<std::string> out;
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  out.reserve(r->elements);
  for (size_t i = 0; i < r->elements; ++i) out.push_back(reply_string(r->element[i]));
  return out;
}

}  // namespace vmshare::store
