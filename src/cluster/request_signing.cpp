#include "cluster/request_signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace vmshare::cluster {

namespace {
std::string to_hex(const unsigned char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

bool is_hex(const std::string& s, std::size_t size) {
  if (s.size() != size) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

std::string sign_request(const std::string& key, const SignedFields& f) {
  const std::string text =
      f.method + "\n" + f.target + "\n" + std::to_string(f.timestamp) + "\n" + f.nonce + "\n" + f.sender;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
            text.size(), mac, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return to_hex(mac, len);
}

const char* verdict_text(Verdict v) {
  switch (v) {
    case Verdict::ok: return "ok";
    case Verdict::bad_signature: return "bad signature";
    case Verdict::expired: return "timestamp outside the window";
    case Verdict::replayed: return "nonce already used";
    case Verdict::malformed: return "malformed signature headers";
  }
  return "?";
}

bool NonceCache::remember(const std::string& nonce, std::int64_t now, std::int64_t window) {
  std::lock_guard lock(mutex_);
  // Forget what is older than twice the window: a request that old is refused by its timestamp.
  while (!order_.empty() && (order_.front().first < now - 2 * window || order_.size() >= capacity_)) {
    seen_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!seen_.insert(nonce).second) return false;
  order_.emplace_back(now, nonce);
  return true;
}

Verdict verify_request(const std::string& key, const SignedFields& fields, const std::string& signature,
                       std::int64_t now, std::int64_t window_s, NonceCache& nonces) {
  if (!is_hex(signature, 64) || !is_hex(fields.nonce, 32) || fields.sender.empty()) return Verdict::malformed;
  const auto expected = sign_request(key, fields);
  if (CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) return Verdict::bad_signature;
  if (fields.timestamp < now - window_s || fields.timestamp > now + window_s) return Verdict::expired;
  if (!nonces.remember(fields.nonce, now, window_s)) return Verdict::replayed;
  return Verdict::ok;
}

std::string new_nonce() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no random bytes for a nonce");
  return to_hex(raw, sizeof raw);
}

}  // namespace vmshare::cluster
