// The keys RedisSessionStore writes, read back with a raw hiredis connection: other services
// of the platform read this layout, so it is part of the contract.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <thread>

#include "session_store_backends.h"
#include "store/redis_connection.h"

namespace vmshare::store::test {
namespace {

using namespace std::chrono_literals;

class RedisLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (url_.empty()) GTEST_FAIL() << missing_env_message(kRedisEnv);
    store_ = std::make_unique<RedisSessionStore>(url_);
    raw_ = std::make_unique<RedisConnection>(parse_redis_url(url_), 2s);
  }
  RedisReplyPtr cmd(const std::vector<std::string>& args) { return raw_->command(args); }
  long long integer(const std::vector<std::string>& args) {
    return reply_integer(cmd(args).get());
  }
  std::string str(const std::vector<std::string>& args) { return reply_string(cmd(args).get()); }

  std::string url_ = env_or_empty(kRedisEnv);
  std::unique_ptr<RedisSessionStore> store_;
  std::unique_ptr<RedisConnection> raw_;
};

TEST_F(RedisLayoutTest, SessionHashAndIndexes) {
  auto s = make_session(unique_user_id(), "os_" + run_id(), 1700000123);
  store_->put_vm(s);
  const auto hash = "vm:" + s.vmid;
  const auto user = "user:" + std::to_string(s.user_id) + ":vms";
  const auto os = "vms:by_os:" + s.os_type;
  const auto pid = "vm:by_pid:" + std::to_string(s.pid);

  EXPECT_EQ(str({"TYPE", hash}), "hash");
  EXPECT_EQ(str({"HGET", hash, "vmid"}), s.vmid);
  EXPECT_EQ(str({"HGET", hash, "user_id"}), std::to_string(s.user_id));
  EXPECT_EQ(str({"HGET", hash, "os_type"}), s.os_type);
  EXPECT_EQ(str({"HGET", hash, "pid"}), std::to_string(s.pid));
  EXPECT_EQ(str({"HGET", hash, "status"}), "running");
  EXPECT_EQ(str({"HGET", hash, "started_at"}), "1700000123");
  EXPECT_EQ(str({"HGET", hash, "expires_at"}), std::to_string(s.expires_at));
  EXPECT_EQ(str({"HGET", hash, "node"}), "node-a");
  EXPECT_EQ(str({"HGET", hash, "console"}), "/ws/" + s.vmid);
  EXPECT_EQ(integer({"HLEN", hash}), 9);

  EXPECT_EQ(integer({"SISMEMBER", "vms:active", s.vmid}), 1);
  EXPECT_EQ(str({"TYPE", user}), "zset");
  EXPECT_EQ(str({"ZSCORE", user, s.vmid}), "1700000123");
  EXPECT_EQ(integer({"SISMEMBER", os, s.vmid}), 1);
  EXPECT_EQ(str({"GET", pid}), s.vmid);
  EXPECT_EQ(integer({"TTL", hash}), -1);  // sessions live until removed, never half-expired

  store_->remove_vm(s.vmid);
  EXPECT_EQ(integer({"EXISTS", hash}), 0);
  EXPECT_EQ(integer({"SISMEMBER", "vms:active", s.vmid}), 0);
  EXPECT_EQ(integer({"EXISTS", user}), 0);
  EXPECT_EQ(integer({"EXISTS", os}), 0);
  EXPECT_EQ(integer({"EXISTS", pid}), 0);
}

TEST_F(RedisLayoutTest, ReadsSessionsWrittenByOtherServices) {
  auto vmid = unique_name("vm_ext");
  auto uid = unique_user_id();
  cmd({"HSET", "vm:" + vmid, "vmid", vmid, "user_id", std::to_string(uid), "os_type", "alpine",
       "pid", "77", "status", "starting", "started_at", "5", "expires_at", "6", "node", "py",
       "websockify_port", "6080"});
  cmd({"SADD", "vms:active", vmid});
  cmd({"ZADD", "user:" + std::to_string(uid) + ":vms", "5", vmid});
  auto list = store_->list_user(uid);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].status, "starting");
  EXPECT_EQ(list[0].extra.at("websockify_port"), "6080");
  store_->remove_vm(vmid);
  EXPECT_EQ(integer({"EXISTS", "user:" + std::to_string(uid) + ":vms"}), 0);
}

TEST_F(RedisLayoutTest, StaleIndexEntriesAreSkipped) {
  auto uid = unique_user_id();
  auto ghost = unique_name("vm_ghost");
  cmd({"SADD", "vms:active", ghost});
  cmd({"ZADD", "user:" + std::to_string(uid) + ":vms", "1", ghost});
  EXPECT_TRUE(store_->list_user(uid).empty());
  for (const auto& s : store_->list_active()) EXPECT_NE(s.vmid, ghost);
  store_->remove_vm(ghost);  // cleans the active set even without a hash
  EXPECT_EQ(integer({"SISMEMBER", "vms:active", ghost}), 0);
  cmd({"DEL", "user:" + std::to_string(uid) + ":vms"});
}

TEST_F(RedisLayoutTest, RevokedAndLoginFailureKeys) {
  auto jti = unique_name("jti");
  store_->revoke_token(jti, 30s);
  EXPECT_EQ(integer({"EXISTS", "revoked:" + jti}), 1);
  auto ttl = integer({"TTL", "revoked:" + jti});
  EXPECT_GT(ttl, 25);
  EXPECT_LE(ttl, 30);

  // Throttling counters: throttle:<key>, every one with a TTL.
  auto key = "t:" + unique_name("k").substr(0, 30);
  store_->hit_counter(key, 45s);
  store_->hit_counter(key, 45s);
  EXPECT_EQ(str({"GET", "throttle:" + key}), "2");
  auto fttl = integer({"TTL", "throttle:" + key});
  EXPECT_GT(fttl, 40);
  EXPECT_LE(fttl, 45);
  store_->release_counter(key);
  EXPECT_EQ(str({"GET", "throttle:" + key}), "1");
  EXPECT_GT(integer({"TTL", "throttle:" + key}), 40);  // a release keeps the window

  // A counter without a TTL (written by hand, or an older version) gets a window again.
  auto stuck = "t:" + unique_name("k").substr(0, 30);
  cmd({"SET", "throttle:" + stuck, "4"});
  auto w = store_->hit_counter(stuck, 45s);
  EXPECT_EQ(w.count, 5);
  EXPECT_GT(integer({"TTL", "throttle:" + stuck}), 0);

  // Handing back a counter that has expired makes no key (a DECR would leave one without a TTL).
  auto gone = "t:" + unique_name("k").substr(0, 30);
  store_->release_counter(gone);
  EXPECT_EQ(integer({"EXISTS", "throttle:" + gone}), 0);
}

TEST_F(RedisLayoutTest, DatabaseNumberFromTheUrlIsUsed) {
  auto url = url_ + "/3";
  RedisSessionStore store(url);
  auto jti = unique_name("jti_db3");
  store.revoke_token(jti, 30s);
  EXPECT_EQ(integer({"EXISTS", "revoked:" + jti}), 0);  // raw_ is on db 0
  RedisConnection db3(parse_redis_url(url), 2s);
  EXPECT_EQ(reply_integer(db3.command({"EXISTS", "revoked:" + jti}).get()), 1);
}

TEST_F(RedisLayoutTest, AuthenticatesWithUserAndPasswordFromTheUrl) {
  auto user = unique_name("acl");
  auto password = "pw:" + run_id() + "@/x";
  cmd({"ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all"});
  auto enc = password;
  for (auto [from, to] : {std::pair{":", "%3A"}, {"@", "%40"}, {"/", "%2F"}}) {
    for (auto p = enc.find(from); p != std::string::npos; p = enc.find(from, p + 3))
      enc.replace(p, 1, to);
  }
  auto authed = "redis://" + user + ":" + enc + "@" + url_.substr(8);
  RedisSessionStore good(authed);
  auto jti = unique_name("jti_acl");
  good.revoke_token(jti, 30s);
  EXPECT_TRUE(good.is_revoked(jti));

  RedisSessionStore bad("redis://" + user + ":wrong@" + url_.substr(8));
  EXPECT_THROW(bad.is_revoked(jti), ServiceUnavailable);
  cmd({"ACL", "DELUSER", user});
}

}  // namespace
}  // namespace vmshare::store::test
