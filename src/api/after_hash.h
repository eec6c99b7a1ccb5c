#pragma once
// bcrypt work without holding a request worker: the handler suspends (http::Request::suspend),
// the hash runs on the hash pool, and the rest of the handler runs on a worker afterwards.
#include <atomic>
#include <functional>

#include "api/app_context.h"
#include "http/request.h"
#include "http/response.h"

namespace vmshare::api {

// Runs `hash` on the hash pool, then `then` on a request worker; `then`'s response (or error)
// is the answer. Return after_hash's value from the handler. Past the hash queue's bounds
// (auth::HashQueueLimits) the answer is 503 with Retry-After and `then` never runs (whatever it
// holds is released on a worker). Where the request cannot suspend, it blocks as before.
// 503 with Retry-After at once when the hash queue is full: a sign-in that would be refused
// anyway costs no lookup and no throttle counter (floods stay cheap).
void refuse_if_hash_queue_full(AppContext& app);

http::Response after_hash(AppContext& app, http::Request& request, std::function<void()> hash,
                          std::function<http::Response()> then);

// The same for a blocking call that is not CPU work (reCAPTCHA's HTTPS round trip): `call` on a
// thread of its own, then `then` on a worker. At most `max_calls` at once (counted in
// `calls`); beyond, 503 with Retry-After and neither runs.
http::Response after_call(http::Request& request, std::atomic<int>& calls, int max_calls, std::function<void()> call,
                          std::function<http::Response()> then);

}  // namespace vmshare::api
