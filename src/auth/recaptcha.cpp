#include "auth/recaptcha.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string_view>

#include <spdlog/spdlog.h>

#include "auth/recaptcha_reply.h"

namespace vmshare::auth {
namespace {

// The real reply is a few hundred bytes; a larger one is not the service we expect.
constexpr std::size_t kMaxReplyBytes = 64 * 1024;

// curl_global_init is not thread-safe; do it once, before the first request from any thread.
bool curl_ready() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; });
  return ok;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlStrDeleter {
  void operator()(char* s) const { curl_free(s); }
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t len = size * n;
  if (body->size() + len > kMaxReplyBytes) return 0;  // makes curl fail with a write error
  body->append(data, len);
  return len;
}

bool append_field(CURL* curl, std::string& form, std::string_view name, const std::string& value) {
  std::unique_ptr<char, CurlStrDeleter> escaped(
      curl_easy_escape(curl, value.data(), static_cast<int>(value.size())));
  if (!escaped) return false;
  if (!form.empty()) form.push_back('&');
  form.append(name).push_back('=');
  form.append(escaped.get());
  return true;
}

}  // namespace

CaptchaResult verify_recaptcha(const std::string& verify_url, const std::string& secret,
                               const std::string& response, const std::string& remote_ip,
                               int timeout_ms) {
  if (!curl_ready()) {
    spdlog::error("reCAPTCHA: curl_global_init failed");
    return CaptchaResult::unavailable;
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return CaptchaResult::unavailable;
  CURL* c = curl.get();

  std::string form;
  if (!append_field(c, form, "secret", secret) || !append_field(c, form, "response", response) ||
      (!remote_ip.empty() && !append_field(c, form, "remoteip", remote_ip)))
    return CaptchaResult::unavailable;

  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, verify_url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");  // no file://, gopher://...
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms));
  // Request threads must not receive SIGALRM from curl's resolver timeout.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);

  const CURLcode rc = curl_easy_perform(c);
  // The form holds the secret; do not leave it lying in freed heap memory.
  std::fill(form.begin(), form.end(), '\0');
  if (rc != CURLE_OK) {
    // The error buffer names host and cause only; the secret travels in the body, never here.
    spdlog::warn("reCAPTCHA verify unavailable: {}", error[0] ? error : curl_easy_strerror(rc));
    return CaptchaResult::unavailable;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return parse_recaptcha_reply(status, body);
}

}  // namespace vmshare::auth
