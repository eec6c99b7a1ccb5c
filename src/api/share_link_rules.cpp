#include "api/share_link_rules.h"

#include <openssl/evp.h>

#include <charconv>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "auth/jwt_tokens.h"

namespace vmshare::api::share {

const char* mode_name(Mode mode) { return mode == Mode::control ? "control" : "view_only"; }

std::optional<Mode> parse_mode(std::string_view text) {
  if (text == "control") return Mode::control;
  if (text == "view_only") return Mode::view_only;
  return std::nullopt;
}

void check_minutes(std::int64_t minutes) {
  if (minutes < kMinMinutes || minutes > kMaxMinutes)
    throw BadShareRequest("minutes must be from " + std::to_string(kMinMinutes) + " to " +
                          std::to_string(kMaxMinutes) + " (24 hours)");
}

namespace {

// A whole number from JSON, or its decimal digits as a string (form posts); nullopt otherwise.
std::optional<std::int64_t> whole_number(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
    return std::nullopt;
  }
  if (!value.is_string()) return std::nullopt;
  const auto& text = value.get_ref<const std::string&>();
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return n;
}

std::optional<bool> boolean(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text == "true" || text == "on" || text == "1") return true;
    if (text == "false" || text == "off" || text == "0") return false;
  }
  return std::nullopt;
}

}  // namespace

CreateRequest parse_create_request(const nlohmann::json& body) {
  CreateRequest out;
  if (auto it = body.find("mode"); it != body.end() && !it->is_null()) {
    auto mode = it->is_string() ? parse_mode(it->get_ref<const std::string&>()) : std::nullopt;
    if (!mode) throw BadShareRequest("mode must be \"control\" or \"view_only\"");
    out.mode = *mode;
  }
  if (auto it = body.find("minutes"); it != body.end() && !it->is_null()) {
    auto minutes = whole_number(*it);
    if (!minutes) throw BadShareRequest("minutes must be a whole number of minutes");
    out.minutes = *minutes;
  }
  check_minutes(out.minutes);
  if (auto it = body.find("sign_in"); it != body.end() && !it->is_null()) {
    auto sign_in = boolean(*it);
    if (!sign_in) throw BadShareRequest("sign_in must be true or false");
    out.require_sign_in = *sign_in;
  }
  return out;
}

std::int64_t parse_id(const nlohmann::json& body) {
  auto it = body.find("id");
  if (it == body.end() || it->is_null()) throw BadShareRequest("id is required");
  auto id = whole_number(*it);
  if (!id || *id <= 0) throw BadShareRequest("id must be a positive whole number");
  return *id;
}

std::string new_token() { return auth::random_hex(kTokenBytes); }

bool looks_like_token(std::string_view text) {
  if (text.size() != 2 * kTokenBytes) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string token_hash(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &size, EVP_sha256(), nullptr) != 1 || size != 32)
    throw std::runtime_error("SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::string token_from_protocols(std::string_view header) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.substr(0, kProtocolPrefix.size()) == kProtocolPrefix) return std::string(item.substr(kProtocolPrefix.size()));
  }
  return {};
}

Verdict decide(const LinkFacts& f) {
  if (!f.link) return Verdict::unknown;
  // First: a VM's end revokes its links too, and the visitor should hear why.
  if (!f.vm_running) return Verdict::vm_ended;
  if (f.link->revoked_at != 0) return Verdict::revoked;
  if (f.link->expires_at <= f.now) return Verdict::expired;
  if (f.link->require_sign_in && !f.signed_in) return Verdict::sign_in_required;
  return Verdict::ok;
}

std::string explain(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return {};
    case Verdict::unknown: return "This share link is not valid; ask its owner for a new one";
    case Verdict::revoked: return "This share link was revoked by its owner";
    case Verdict::expired: return "This share link has expired; ask its owner for a new one";
    case Verdict::vm_ended: return "The VM this link shared is no longer running";
    case Verdict::sign_in_required: return "Sign in to open this share link";
  }
  return {};
}

int status_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return 200;
    case Verdict::unknown: return 404;
    case Verdict::sign_in_required: return 401;
    case Verdict::revoked:
    case Verdict::expired:
    case Verdict::vm_ended: return 410;
  }
  return 500;
}

}  // namespace vmshare::api::share
