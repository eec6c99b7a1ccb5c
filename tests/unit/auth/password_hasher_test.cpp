#include "auth/password_hasher.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace vmshare::auth {
namespace {

struct Vector {
  const char* password;
  const char* hash;
};

// Published vectors: the Openwall crypt_blowfish test suite (also used by OpenBSD, passlib
// and PHP), covering $2a$, $2b$ and $2y$, the empty password and 8-bit input.
const Vector kPublished[] = {
    {"U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
    {"U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"},
    {"U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"},
    {"", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"},
    {"\xff\xff\xa3", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
    {"\xff\xff\xa3", "$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"},
    {"\xff\xff\xa3", "$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85."},
    {"\xa3", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq"},
    // $2b$ made by Python's bcrypt (the backend passlib uses), from rust-bcrypt's tests.
    {"correctbatteryhorsestapler", "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie"},
    // $2a$ made by node.js bcrypt, same source.
    {"correctbatteryhorsestapler", "$2a$04$n4Uy0eSnMfvnESYL.bLwuuj0U/ETSsoTpRT9GVk5bektyVVa5xnIi"},
};

TEST(PasswordHasher, PublishedVectorsVerify) {
  for (const auto& v : kPublished) {
    EXPECT_TRUE(verify_password(v.password, v.hash)) << v.hash;
    EXPECT_FALSE(verify_password(std::string(v.password) + "x", v.hash)) << v.hash;
  }
}

TEST(PasswordHasher, HashHasBcrypt2bShapeAndVerifies) {
  const std::string h = hash_password("correct horse", 4);
  ASSERT_EQ(h.size(), 60u);
  EXPECT_EQ(h.substr(0, 7), "$2b$04$");
  EXPECT_TRUE(verify_password("correct horse", h));
  EXPECT_FALSE(verify_password("correct horsf", h));
  EXPECT_FALSE(verify_password("", h));
}

TEST(PasswordHasher, SaltsDiffer) {
  EXPECT_NE(hash_password("same", 4), hash_password("same", 4));
}

TEST(PasswordHasher, CostIsWrittenIntoHash) {
  EXPECT_EQ(hash_password("p", 5).substr(0, 7), "$2b$05$");
  EXPECT_EQ(hash_password("p", 10).substr(0, 7), "$2b$10$");
}

TEST(PasswordHasher, RejectsBadCost) {
  EXPECT_THROW(hash_password("p", 3), std::invalid_argument);
  EXPECT_THROW(hash_password("p", 32), std::invalid_argument);
  EXPECT_THROW(hash_password("p", -1), std::invalid_argument);
}

TEST(PasswordHasher, SeventyTwoBytesIsTheLimit) {
  const std::string max(kBcryptMaxPasswordBytes, 'a');
  const std::string h = hash_password(max, 4);
  EXPECT_TRUE(verify_password(max, h));
  EXPECT_THROW(hash_password(max + "a", 4), std::invalid_argument);
  // bcrypt would ignore byte 73; we refuse rather than let two passwords share a hash.
  EXPECT_FALSE(verify_password(max + "a", h));
}

TEST(PasswordHasher, EmbeddedNulIsRefused) {
  const std::string with_nul("abc\0def", 7);
  EXPECT_THROW(hash_password(with_nul, 4), std::invalid_argument);
  const std::string h = hash_password("abc", 4);
  EXPECT_FALSE(verify_password(with_nul, h));  // would otherwise match "abc"
}

TEST(PasswordHasher, MalformedHashesAreFalseNotThrow) {
  const std::string good = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
  EXPECT_FALSE(verify_password("U*U", ""));
  EXPECT_FALSE(verify_password("U*U", "garbage"));  // crypt would treat this as a DES salt
  EXPECT_FALSE(verify_password("U*U", good.substr(0, 59)));
  EXPECT_FALSE(verify_password("U*U", good + "A"));
  EXPECT_FALSE(verify_password("U*U", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  EXPECT_FALSE(verify_password("U*U", "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  EXPECT_FALSE(verify_password("U*U", "$2a$5$CCCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  EXPECT_FALSE(verify_password("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  EXPECT_FALSE(verify_password("U*U", "$6$saltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012"));
}

}  // namespace
}  // namespace vmshare::auth
