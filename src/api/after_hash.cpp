#include "api/after_hash.h"

#include <memory>
#include <thread>

#include "core/errors.h"

namespace vmshare::api {
namespace {

[[noreturn]] void throw_busy(const auth::HashQueueLimits& limits) {
  const auto secs = std::max<long long>(1, (limits.max_wait.count() + 999) / 1000);
  throw ApiError(503, "Too many sign-ins in progress, please retry shortly", {{"Retry-After", std::to_string(secs)}});
}

}  // namespace

void refuse_if_hash_queue_full(AppContext& app) {
  if (app.hashes->queued() >= app.hashes->limits().max_queued) {
    app.hashes->count_rejected_full();
    throw_busy(app.hashes->limits());
  }
}

http::Response after_hash(AppContext& app, http::Request& request, std::function<void()> hash,
                          std::function<http::Response()> then) {
  if (!request.suspend) {
    app.hashes->run(std::move(hash));
    return then();
  }
  const auto limits = app.hashes->limits();
  auto resume = request.suspend();
  // Moved along, never copied: whatever `then` holds (a throttle reservation) is let go on the
  // worker that answers, not on a hash thread.
  auto next = std::make_shared<std::function<http::Response()>>(std::move(then));
  bool queued = false;
  try {
    queued = app.hashes->submit(std::move(hash), [resume, next, limits](std::exception_ptr error) mutable {
      resume([next = std::move(next), error, limits]() -> http::Response {
        if (error) {
          try {
            std::rethrow_exception(error);
          } catch (const auth::HashQueueTimeout&) {
            throw_busy(limits);
          }
        }
        return (*next)();
      });
    });
  } catch (...) {  // shutting down: answer with that error
    resume([error = std::current_exception()]() -> http::Response { std::rethrow_exception(error); });
    return {};
  }
  if (!queued) resume([limits]() -> http::Response { throw_busy(limits); });
  return {};  // ignored: the continuation answers
}

http::Response after_call(http::Request& request, std::atomic<int>& calls, int max_calls, std::function<void()> call,
                          std::function<http::Response()> then) {
  if (!request.suspend) {
    call();
    return then();
  }
  if (calls.fetch_add(1) >= max_calls) {
    --calls;
    throw ApiError(503, "Too many sign-ins in progress, please retry shortly", {{"Retry-After", "1"}});
  }
  auto resume = request.suspend();
  // A thread per call: bounded by max_calls, and a slow verify URL never waits behind a queue.
  std::thread([&calls, resume, call = std::move(call), then = std::move(then)]() mutable {
    std::exception_ptr error;
    try {
      call();
    } catch (...) {
      error = std::current_exception();
    }
    --calls;
    resume([error, then = std::move(then)]() -> http::Response {
      if (error) std::rethrow_exception(error);
      return then();
    });
  }).detach();
  return {};  // ignored: the continuation answers
}

}  // namespace vmshare::api
