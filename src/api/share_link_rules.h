#pragma once
// Share links' pure rules (issue 15): what a create request may ask for, the token's form and
// hash, and whether a stored link lets a visitor in now. No I/O; unit-tested in
// tests/unit/api/share_link_rules_test.cpp.
//
// Invariants: a token is kTokenBytes of the kernel CSPRNG (auth::random_hex, like every other
// token here) as lower-case hex; only its SHA-256 (hex) is ever stored or compared; the token
// itself appears once, in the create response, and never in a log line or a URL path (the
// page keeps it in the URL fragment and hands it to the WebSocket as a subprotocol).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "store/user_store.h"

namespace vmshare::api::share {

inline constexpr std::size_t kTokenBytes = 32;  // 256 bits
inline constexpr int kMinMinutes = 5;
inline constexpr int kMaxMinutes = 24 * 60;
inline constexpr int kDefaultMinutes = 60;
// The WebSocket subprotocol that carries the token: "vmshare-share.<token>".
inline constexpr std::string_view kProtocolPrefix = "vmshare-share.";

enum class Mode { control, view_only };
const char* mode_name(Mode mode);                        // "control" | "view_only"
std::optional<Mode> parse_mode(std::string_view text);  // nullopt: neither

// A create request that is out of bounds; the message is for the user.
struct BadShareRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws BadShareRequest unless kMinMinutes <= minutes <= kMaxMinutes.
void check_minutes(std::int64_t minutes);

// POST /vm/share's body: {mode: "control"|"view_only" (default view_only), minutes: 5..1440
// (default 60; a whole number, or its digits as a string from a form), sign_in: bool (default
// false)}. Throws BadShareRequest naming the field.
struct CreateRequest {
  Mode mode = Mode::view_only;
  std::int64_t minutes = kDefaultMinutes;
  bool require_sign_in = false;
};
CreateRequest parse_create_request(const nlohmann::json& body);
// A link or viewer id from a body ({"id": 3} or {"id": "3"}); throws BadShareRequest.
std::int64_t parse_id(const nlohmann::json& body);

// A fresh token: 2 * kTokenBytes lower-case hex characters.
std::string new_token();
// Whether `text` has a token's form (length and alphabet); anything else is never looked up.
bool looks_like_token(std::string_view text);
// Lower-case hex SHA-256 of the token, as stored in share_links.token_hash.
std::string token_hash(std::string_view token);
// The token from a Sec-WebSocket-Protocol list ("binary, vmshare-share.<hex>"), or empty.
std::string token_from_protocols(std::string_view header);

// Why a visitor may not use a link; `ok` lets them in.
enum class Verdict { ok, unknown, revoked, expired, vm_ended, sign_in_required };
struct LinkFacts {
  const store::ShareLink* link = nullptr;  // null: no link has this token's hash
  std::int64_t now = 0;
  bool vm_running = false;  // the link's VM runs here and still belongs to the link's owner
  bool signed_in = false;   // the visitor presented valid credentials
};
Verdict decide(const LinkFacts& facts);

// A sentence for a refusal, and its HTTP status (404 unknown, 410 revoked/expired/ended, 401 sign-in).
std::string explain(Verdict verdict);
int status_of(Verdict verdict);

// A visitor refused at a link (api/error_table maps it: status_of, explain).
struct LinkRefused : std::runtime_error {
  Verdict verdict;
  explicit LinkRefused(Verdict v) : std::runtime_error(explain(v)), verdict(v) {}
};

}  // namespace vmshare::api::share
