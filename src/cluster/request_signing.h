#pragma once
// The internal channel's authentication (pure): every request one node sends another carries
// HMAC-SHA256(key, method \n target \n timestamp \n nonce \n sender) and is accepted only within
// a short window of the receiver's clock, once per nonce. The key is shared by the nodes and is
// never accepted from outside: the public listener refuses these headers (cluster/internal_gate).
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace vmshare::cluster {

// Header names of the scheme (lower case: HTTP header names are case-insensitive).
inline constexpr const char* kHeaderNode = "x-vmshare-node";
inline constexpr const char* kHeaderTime = "x-vmshare-time";
inline constexpr const char* kHeaderNonce = "x-vmshare-nonce";
inline constexpr const char* kHeaderSignature = "x-vmshare-signature";
// Set by a node that placed a launch on the receiver: launch here, do not place again.
inline constexpr const char* kHeaderPlaced = "x-vmshare-placed";
inline constexpr const char* kHeaderPrefix = "x-vmshare-";

struct SignedFields {
  std::string method;
  std::string target;  // raw request target, query included
  std::int64_t timestamp = 0;  // unix seconds
  std::string nonce;   // 32 hex characters, fresh per request
  std::string sender;  // the sending node's id
};

// Lower-case hex of the HMAC-SHA256 of the fields' canonical text.
std::string sign_request(const std::string& key, const SignedFields& fields);

enum class Verdict { ok, bad_signature, expired, replayed, malformed };
const char* verdict_text(Verdict v);

// Nonces seen within the window, so a captured request cannot be replayed while its timestamp
// is still accepted. Bounded: at most `capacity` remembered (the oldest dropped first).
class NonceCache {
 public:
  explicit NonceCache(std::size_t capacity = 100000) : capacity_(capacity) {}
  // false when `nonce` was already seen since `now - window`.
  bool remember(const std::string& nonce, std::int64_t now, std::int64_t window);

 private:
  std::mutex mutex_;
  std::size_t capacity_;
  std::deque<std::pair<std::int64_t, std::string>> order_;
  std::set<std::string> seen_;
};

// Checks the signature (constant time), then the window (|now - timestamp| <= window_s), then
// the nonce. Pure except for the cache.
Verdict verify_request(const std::string& key, const SignedFields& fields, const std::string& signature,
                       std::int64_t now, std::int64_t window_s, NonceCache& nonces);

// A fresh nonce (32 hex characters from the system's CSPRNG).
std::string new_nonce();

}  // namespace vmshare::cluster
