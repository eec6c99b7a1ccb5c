#include "auth/login_name.h"

#include <gtest/gtest.h>

#include <string>

namespace vmshare::auth {
namespace {

TEST(LoginName, Accepts) {
  for (const char* n : {"a", "alice", "Bob_99", "first.last", "x-y", "_", "...", "A1-_."})
    EXPECT_TRUE(valid_login_name(n)) << n;
  EXPECT_TRUE(valid_login_name(std::string(64, 'z')));
}

TEST(LoginName, Rejects) {
  EXPECT_FALSE(valid_login_name(""));
  EXPECT_FALSE(valid_login_name(std::string(65, 'z')));
  for (const char* n : {"a b", "a/b", "a\\b", "a@b", "ä", "name\n", "a;b", "<script>", "a+b"})
    EXPECT_FALSE(valid_login_name(n)) << n;
  EXPECT_FALSE(valid_login_name(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace vmshare::auth
