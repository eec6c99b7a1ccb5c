#pragma once
// Telegram Bot API sendMessage, HTML parse mode. Every text we did not write is HTML-escaped.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "obs/watchdog.h"

namespace vmshare::obs {

struct TelegramTarget {
  std::string api_url = "https://api.telegram.org";
  std::string token;
  std::string chat_id;
  bool configured() const { return !token.empty() && !chat_id.empty(); }
};

// Telegram's HTML mode needs &, < and > escaped (and " inside attributes).
std::string html_escape(std::string_view text);

std::string telegram_send_url(const TelegramTarget& target);  // holds the token: never log it
nlohmann::json telegram_payload(const std::string& chat_id, const std::string& html);

std::string alert_html(const Alert& alert, const std::string& host);
std::string feedback_html(const std::string& login, std::int64_t user_id, const std::string& message);

// Telegram refused the message or could not be reached; the message never holds the token.
struct TelegramError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void telegram_send(const TelegramTarget& target, const std::string& html);

}  // namespace vmshare::obs
