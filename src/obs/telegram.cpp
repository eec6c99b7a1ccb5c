#include "obs/telegram.h"

#include <fmt/format.h>

#include "obs/http_client.h"

namespace vmshare::obs {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string telegram_send_url(const TelegramTarget& t) {
  std::string base = t.api_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/bot" + t.token + "/sendMessage";
}

nlohmann::json telegram_payload(const std::string& chat_id, const std::string& html) {
  return {{"chat_id", chat_id}, {"text", html}, {"parse_mode", "HTML"}, {"disable_web_page_preview", true}};
}

std::string alert_html(const Alert& alert, const std::string& host) {
  const char* icon = alert.state == AlertState::resolved ? "\u2705" : "\u26a0\ufe0f";
  return fmt::format("{} <b>vmshare watchdog</b> on <code>{}</code>\n{}", icon, html_escape(host),
                     html_escape(alert_text(alert)));
}

std::string feedback_html(const std::string& login, std::int64_t user_id, const std::string& message) {
  return fmt::format("\U0001f4ac <b>Feedback</b> from <code>{}</code> (id {})\n{}", html_escape(login), user_id,
                     html_escape(message));
}

void telegram_send(const TelegramTarget& target, const std::string& html) {
  HttpRequest req;
  req.method = "POST";
  req.url = telegram_send_url(target);
  req.headers = {{"Content-Type", "application/json"}};
  req.body = telegram_payload(target.chat_id, html).dump();
  req.timeout = std::chrono::seconds(10);
  req.max_response_bytes = 256 << 10;
  HttpResponse res;
  try {
    res = http_request(req);
  } catch (const HttpError& e) {
    throw TelegramError(std::string("Telegram unreachable: ") + e.what());
  }
  // Telegram answers {"ok":false,"description":"..."} on errors; the description never echoes the token.
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  const bool ok = res.status >= 200 && res.status < 300 && (body.is_discarded() || body.value("ok", true));
  if (!ok) {
    std::string why = body.is_object() ? body.value("description", std::string()) : std::string();
    throw TelegramError(fmt::format("Telegram answered HTTP {}{}{}", res.status, why.empty() ? "" : ": ", why));
  }
}

}  // namespace vmshare::obs
