#pragma once
// Keys for the sign-in and sign-up counters. Whatever a client sends, a key is a short
// fixed-size digest, so throttling state never grows with the size of what strangers type.
#include <string>
#include <string_view>

namespace vmshare::auth {

// Hex characters of a digest: 128 bits of SHA-256, so no one can make two logins share a counter.
constexpr std::size_t kThrottleDigestChars = 32;
// Longest key the functions below make ("<kind>:" + digest); stores may refuse longer ones.
constexpr std::size_t kMaxThrottleKeyBytes = 40;

// ASCII lower case: "Alice" and "alice" share one failure counter.
std::string normalise_login(std::string_view login);

// The network a client address stands for: an IPv4 address itself, an IPv6 address its /64
// (one subscriber usually holds a whole /64). Anything unparsable is kept as it is.
std::string address_network(std::string_view address);

// "<kind>:<32 hex>", kind a short tag (a few letters), digest of SHA-256(kind, value).
std::string throttle_key(std::string_view kind, std::string_view value);

// The keys vmshare uses.
inline std::string login_failure_key(std::string_view login) { return throttle_key("lf", normalise_login(login)); }
inline std::string address_failure_key(std::string_view address) { return throttle_key("af", address_network(address)); }
inline std::string address_signup_key(std::string_view address) { return throttle_key("sa", address_network(address)); }
inline std::string global_signup_key() { return "sg:all"; }

}  // namespace vmshare::auth
