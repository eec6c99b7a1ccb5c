// Real outages: the services script stops PostgreSQL / Redis under a live store and brings them
// back on the same port with the same data. The store must answer ServiceUnavailable meanwhile
// and recover by itself, without being recreated.
#include <gtest/gtest.h>

#include "session_store_backends.h"
#include "user_store_backends.h"

namespace vmshare::store::test {
namespace {

using namespace std::chrono_literals;

#define REQUIRE_ENV(name) \
  if (env_or_empty(name).empty()) GTEST_FAIL() << missing_env_message(name)

TEST(PostgresOutage, CallsFailWith503ThenRecoverWithoutANewStore) {
  REQUIRE_ENV(kPgEnv);
  REQUIRE_ENV("VMSHARE_TEST_PG_STOP_CMD");
  REQUIRE_ENV("VMSHARE_TEST_PG_START_CMD");
  PgBackend backend;
  ASSERT_EQ(backend.error, "");
  auto store = backend.open();
  auto login = unique_name("outage");
  auto u = store->create_user(login, "h", "user");
  // Fill the pool with several connections, all of which the outage will kill.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { store->count_users(); });
  for (auto& t : threads) t.join();

  {
    RestartOnExit restart("VMSHARE_TEST_PG_START_CMD");
    ASSERT_TRUE(run_env_command("VMSHARE_TEST_PG_STOP_CMD"));
    EXPECT_THROW(store->find_by_login(login), ServiceUnavailable);
    EXPECT_THROW(store->create_user(unique_name("x"), "h", "user"), ServiceUnavailable);
    EXPECT_THROW(store->count_users(), ServiceUnavailable);
  }
  // Restarted: the first call after it already works (stale connections were dropped).
  auto found = store->find_by_login(login);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, u.id);
  EXPECT_NO_THROW(store->create_user(unique_name("after"), "h", "user"));
}

TEST(PostgresOutage, RestartNobodyNoticedCostsNoFailedCall) {
  REQUIRE_ENV(kPgEnv);
  PgBackend backend;
  ASSERT_EQ(backend.error, "");
  auto store = backend.open();
  store->create_user(unique_name("quiet"), "h", "user");
  ASSERT_TRUE(run_env_command("VMSHARE_TEST_PG_STOP_CMD"));
  ASSERT_TRUE(run_env_command("VMSHARE_TEST_PG_START_CMD"));
  EXPECT_EQ(store->count_users(), 1);  // the pooled connection is dead: retried on a new one
}

TEST(PostgresOutage, UnreachableAtStartupDoesNotThrowAndMigratesOnceBack) {
  REQUIRE_ENV(kPgEnv);
  PgBackend backend;  // a fresh schema: nothing migrated yet
  ASSERT_EQ(backend.error, "");
  std::unique_ptr<UserStore> store;
  {
    RestartOnExit restart("VMSHARE_TEST_PG_START_CMD");
    ASSERT_TRUE(run_env_command("VMSHARE_TEST_PG_STOP_CMD"));
    ASSERT_NO_THROW(store = make_user_store(backend.config()));
    EXPECT_EQ(store->backend_name(), "postgresql");
    EXPECT_THROW(store->count_users(), ServiceUnavailable);
  }
  EXPECT_EQ(store->count_users(), 0);  // migrations ran on the first call that got through
  EXPECT_NO_THROW(store->create_user(unique_name("late"), "h", "user"));
}

TEST(PostgresOutage, UnreachableHostDoesNotHang) {
  // Nothing listens on port 1; the connect fails fast and the store still constructs.
  PgUserStore store("postgresql://u:hunter2@127.0.0.1:1/db", 2);
  EXPECT_THROW(store.count_users(), ServiceUnavailable);
}

TEST(RedisOutage, CallsFailWith503ThenRecoverWithoutANewStore) {
  REQUIRE_ENV(kRedisEnv);
  REQUIRE_ENV("VMSHARE_TEST_REDIS_STOP_CMD");
  REQUIRE_ENV("VMSHARE_TEST_REDIS_START_CMD");
  RedisSessionStore store(env_or_empty(kRedisEnv));
  auto s = make_session(unique_user_id(), "debian", 10);
  store.put_vm(s);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { store.list_user(s.user_id); });
  for (auto& t : threads) t.join();

  {
    RestartOnExit restart("VMSHARE_TEST_REDIS_START_CMD");
    ASSERT_TRUE(run_env_command("VMSHARE_TEST_REDIS_STOP_CMD"));
    EXPECT_THROW(store.get_vm(s.vmid), ServiceUnavailable);
    EXPECT_THROW(store.put_vm(make_session(s.user_id, "debian", 11)), ServiceUnavailable);
    EXPECT_THROW(store.is_revoked("x"), ServiceUnavailable);
    EXPECT_THROW(store.hit_counter("x", 5s), ServiceUnavailable);
  }
  auto got = store.get_vm(s.vmid);  // the data survived the restart (saved on shutdown)
  ASSERT_TRUE(got);
  EXPECT_EQ(got->pid, s.pid);
  store.remove_vm(s.vmid);
  EXPECT_FALSE(store.get_vm(s.vmid));
}

TEST(RedisOutage, RestartNobodyNoticedCostsNoFailedCall) {
  REQUIRE_ENV(kRedisEnv);
  RedisSessionStore store(env_or_empty(kRedisEnv));
  auto jti = unique_name("jti");
  store.revoke_token(jti, 60s);
  ASSERT_TRUE(run_env_command("VMSHARE_TEST_REDIS_STOP_CMD"));
  ASSERT_TRUE(run_env_command("VMSHARE_TEST_REDIS_START_CMD"));
  EXPECT_TRUE(store.is_revoked(jti));
}

TEST(RedisOutage, DownAtStartupDoesNotThrow) {
  Config c;
  c.redis_url = "redis://:hunter2@127.0.0.1:1";
  std::unique_ptr<SessionStore> store;
  ASSERT_NO_THROW(store = make_session_store(c));
  EXPECT_THROW(store->list_active(), ServiceUnavailable);
}

}  // namespace
}  // namespace vmshare::store::test
