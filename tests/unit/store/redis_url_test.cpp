#include "store/redis_url.h"

#include <gtest/gtest.h>

#include "store/url_redaction.h"

namespace vmshare::store {
namespace {

TEST(RedisUrl, HostPortOnly) {
  auto u = parse_redis_url("redis://127.0.0.1:6380");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.password, "");
  EXPECT_EQ(u.username, "");
  EXPECT_EQ(u.db, 0);
}

TEST(RedisUrl, Defaults) {
  auto u = parse_redis_url("redis://cache");
  EXPECT_EQ(u.host, "cache");
  EXPECT_EQ(u.port, 6379);
}

TEST(RedisUrl, PasswordAndDb) {
  auto u = parse_redis_url("redis://:s3cret@redis.local:6379/2");
  EXPECT_EQ(u.host, "redis.local");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_EQ(u.username, "");
  EXPECT_EQ(u.db, 2);
}

TEST(RedisUrl, UserPasswordAndEncoding) {
  auto u = parse_redis_url("redis://app:p%40ss%3Aw@h:1/0");
  EXPECT_EQ(u.username, "app");
  EXPECT_EQ(u.password, "p@ss:w");
  EXPECT_EQ(u.port, 1);
}

TEST(RedisUrl, LonePasswordAndRawAt) {
  EXPECT_EQ(parse_redis_url("redis://secret@h").password, "secret");
  EXPECT_EQ(parse_redis_url("redis://:a@b@h:2").password, "a@b");
}

TEST(RedisUrl, Ipv6) {
  auto u = parse_redis_url("redis://[::1]:7000");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7000);
}

TEST(RedisUrl, Rejects) {
  for (const char* bad :
       {"http://h:1", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/notadb",
        "redis://:pw%zz@h", "redis://", "redis://:6379", "rediss://h"})
    EXPECT_THROW(parse_redis_url(bad), std::invalid_argument) << bad;
}

TEST(RedisUrl, ErrorsNeverQuoteThePassword) {
  try {
    parse_redis_url("redis://:hunter2@h:notaport");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
}

TEST(UrlRedaction, HidesPasswords) {
  EXPECT_EQ(redact_url("postgresql://u:pw@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(redact_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
  EXPECT_EQ(redact_url("redis://pw@h"), "redis://***@h");
  EXPECT_EQ(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(redact_url("postgresql://h/db?user=u&password=pw&x=1"),
            "postgresql://h/db?user=u&password=***&x=1");
  EXPECT_EQ(redact_url("postgresql://u:p/w@d@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(redact_url("host=h password=pw"), "***");
  EXPECT_EQ(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
}

}  // namespace
}  // namespace vmshare::store
