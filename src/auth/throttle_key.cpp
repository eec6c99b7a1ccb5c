#include "auth/throttle_key.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace vmshare::auth {

std::string normalise_login(std::string_view login) {
  std::string out(login);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string address_network(std::string_view address) {
  if (address.find(':') == std::string_view::npos) return std::string(address);
  std::array<unsigned char, 16> bytes{};
  const std::string text(address);
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) return text;
  // An IPv4-mapped address (::ffff:a.b.c.d) is one IPv4 client, not a /64.
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMapped, 12) == 0) {
    char v4[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, bytes.data() + 12, v4, sizeof v4)) return v4;
  }
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  char out[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, bytes.data(), out, sizeof out)) return text;
  return std::string(out) + "/64";
}

std::string throttle_key(std::string_view kind, std::string_view value) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, kind.data(), kind.size()) == 1 && EVP_DigestUpdate(ctx, "\0", 1) == 1 &&
                  EVP_DigestUpdate(ctx, value.data(), value.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &size) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || size < kThrottleDigestChars / 2) throw std::runtime_error("SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kind);
  out.push_back(':');
  for (std::size_t i = 0; i < kThrottleDigestChars / 2; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace vmshare::auth
