// random_hex (declared in jwt_tokens.h): kernel CSPRNG bytes as lower-case hex.
#include <sys/random.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

#include "auth/jwt_tokens.h"

namespace vmshare::auth {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  std::size_t filled = 0;
  while (filled < bytes) {
    // getrandom blocks only until the pool is first seeded; short reads happen past 256 bytes.
    const ssize_t n = getrandom(buf.data() + filled, bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("getrandom failed");
    }
    filled += static_cast<std::size_t>(n);
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : buf) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

}  // namespace vmshare::auth
