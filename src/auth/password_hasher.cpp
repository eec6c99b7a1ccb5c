#include "auth/password_hasher.h"

#include <crypt.h>
#include <string.h>  // explicit_bzero

#include <memory>
#include <stdexcept>

#include "auth/constant_time.h"

namespace vmshare::auth {
namespace {

constexpr int kMinCost = 4;
constexpr int kMaxCost = 31;

// struct crypt_data is ~32 KB: too big for the small stacks some threads run on, so heap it,
// and wipe it afterwards because it holds key-schedule state derived from the password.
struct CryptData {
  std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  CryptData() { explicit_bzero(data.get(), sizeof(crypt_data)); }
  ~CryptData() { explicit_bzero(data.get(), sizeof(crypt_data)); }
};

// crypt() reads a C string: an embedded NUL would silently shorten the password.
bool usable_password(std::string_view password) {
  return password.size() <= kBcryptMaxPasswordBytes &&
         password.find('\0') == std::string_view::npos;
}

bool is_bcrypt_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '/';
}

// "$2a$" / "$2b$" / "$2y$", two-digit cost, 53 characters of salt+digest. Checked here because
// crypt_rn happily treats anything else as another scheme (even DES for "garbage").
bool well_formed_bcrypt(const std::string& hash) {
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$')
    return false;
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') return false;
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < kMinCost || cost > kMaxCost) return false;
  for (std::size_t i = 7; i < hash.size(); ++i)
    if (!is_bcrypt_digit(hash[i])) return false;
  return true;
}

}  // namespace

std::string hash_password(std::string_view password, int cost) {
  if (password.size() > kBcryptMaxPasswordBytes)
    throw std::invalid_argument("password longer than 72 bytes");
  if (password.find('\0') != std::string_view::npos)
    throw std::invalid_argument("password contains a NUL byte");
  if (cost < kMinCost || cost > kMaxCost) throw std::invalid_argument("bcrypt cost outside 4..31");

  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // nullptr random bytes: libxcrypt draws the salt from the OS random source itself.
  if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                        sizeof setting))
    throw std::runtime_error("crypt_gensalt_rn failed");

  const std::string phrase(password);  // NUL-terminated copy for the C API
  CryptData cd;
  const char* out = crypt_rn(phrase.c_str(), setting, cd.data.get(), sizeof(crypt_data));
  if (!out || out[0] == '*') throw std::runtime_error("crypt_rn failed");
  return std::string(out);
}

bool verify_password(std::string_view password, const std::string& hash) {
  if (!usable_password(password) || !well_formed_bcrypt(hash)) return false;
  const std::string phrase(password);
  CryptData cd;
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), cd.data.get(), sizeof(crypt_data));
  if (!out) return false;
  return constant_time_equal(out, hash);
}

}  // namespace vmshare::auth
