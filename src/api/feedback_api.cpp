// POST /feedback: a signed-in user's message, HTML-escaped, to the operators' Telegram chat.
#include <algorithm>
#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>

#include "api/auth_guard.h"
#include "api/json_body.h"
#include "api/obs_routes.h"
#include "core/errors.h"
#include "obs/telegram.h"
#include "obs/vmshare_metrics.h"

namespace vmshare::api {

namespace {

constexpr std::size_t kMaxFeedbackChars = 3500;  // Telegram's limit is 4096 after our framing

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// FEEDBACK_MAX_PER_USER per FEEDBACK_WINDOW_S: one counter per user in the session store (Redis
// when nodes share one), so the limit holds across nodes. A fixed window opened by the user's
// first message; a refused message is handed back and does not count. nullopt: within the limit.
std::optional<std::chrono::seconds> over_feedback_limit(AppContext& app, std::int64_t user_id) {
  const std::string key = "fb:" + std::to_string(user_id);
  const auto w = app.sessions->hit_counter(key, std::chrono::seconds(app.config.feedback_window_s));
  if (w.count <= app.config.feedback_max_per_user) return std::nullopt;
  app.sessions->release_counter(key);
  return std::max(w.retry_after, std::chrono::seconds(1));
}

}  // namespace

void register_feedback_routes(http::Router& router, AppContext& app) {
  router.post("/feedback", [&app](http::Request& request) {
    const auto caller = authenticate(app, request);
    const auto body = parse_body_object(request);
    auto message = optional_string(body, "message");
    if (!message) message = optional_string(body, "text");
    if (!message || message->find_first_not_of(" \t\r\n") == std::string::npos)
      throw ApiError(400, "message is required");
    if (utf8_length(*message) > kMaxFeedbackChars)
      throw ApiError(413, "Feedback is limited to " + std::to_string(kMaxFeedbackChars) + " characters");
    const obs::TelegramTarget target{app.config.telegram_api_url, app.config.tg_bot_token, app.config.tg_chat_id};
    if (!target.configured())
      throw ApiError(503, "Feedback is not available: Telegram is not configured on this server");
    if (auto wait = over_feedback_limit(app, caller.id)) {
      obs::metrics().cap_refusals_total.with({"feedback"}).inc();
      throw ApiError(429,
                     "You have sent " + std::to_string(app.config.feedback_max_per_user) +
                         " messages recently (the limit); please wait " + std::to_string(wait->count()) + " s",
                     {{"Retry-After", std::to_string(wait->count())}});
    }
    try {
      obs::telegram_send(target, obs::feedback_html(caller.login, caller.id, *message));
    } catch (const obs::TelegramError& e) {
      spdlog::warn("feedback from user {}: {}", caller.id, e.what());
      throw ApiError(502, "Telegram did not accept the message; please try again later");
    }
    spdlog::info("feedback from user {} forwarded to Telegram", caller.id);
    return http::json_response(200, {{"message", "Feedback sent"}});
  });
}

}  // namespace vmshare::api
