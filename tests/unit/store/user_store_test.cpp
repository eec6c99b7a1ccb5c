// One suite, run against SQLite and against a real PostgreSQL.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/migrations.h"
#include "user_store_backends.h"

namespace vmshare::store::test {
namespace {

template <class Backend>
class UserStoreTest : public UserStoreFixture<Backend> {
 protected:
  std::string login(const std::string& what) { return unique_name("u_" + what); }
};

TYPED_TEST_SUITE(UserStoreTest, Backends, BackendNames);

const std::vector<std::string>& migrations_for(const SqliteUserStore&) {
  return sqlite_migrations();
}
const std::vector<std::string>& migrations_for(const PgUserStore&) { return pg_migrations(); }

TYPED_TEST(UserStoreTest, CreateThenFindByLoginAndId) {
  auto name = this->login("alice");
  auto u = this->store_->create_user(name, "$2b$12$hash", "user");
  EXPECT_GT(u.id, 0);
  EXPECT_EQ(u.login, name);
  EXPECT_EQ(u.hashed_password, "$2b$12$hash");
  EXPECT_EQ(u.role, "user");
  EXPECT_EQ(u.snapshot_storage_capacity, 300);
  EXPECT_EQ(u.snapshot_stored, 0);

  auto by_login = this->store_->find_by_login(name);
  ASSERT_TRUE(by_login);
  EXPECT_EQ(by_login->id, u.id);
  EXPECT_EQ(by_login->hashed_password, u.hashed_password);
  auto by_id = this->store_->find_by_id(u.id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->login, name);

  auto second = this->store_->create_user(this->login("bob"), "h", "admin");
  EXPECT_GT(second.id, u.id);
  EXPECT_EQ(second.role, "admin");
}

TYPED_TEST(UserStoreTest, MissingUsersAreEmpty) {
  EXPECT_FALSE(this->store_->find_by_login(this->login("nobody")));
  EXPECT_FALSE(this->store_->find_by_id(987654321));
}

TYPED_TEST(UserStoreTest, DuplicateLoginThrowsLoginTaken) {
  auto name = this->login("dup");
  this->store_->create_user(name, "h1", "user");
  EXPECT_THROW(this->store_->create_user(name, "h2", "user"), LoginTaken);
  EXPECT_EQ(this->store_->find_by_login(name)->hashed_password, "h1");
}

TYPED_TEST(UserStoreTest, ConcurrentDuplicateCreatesExactlyOneWins) {
  auto name = this->login("race");
  std::atomic<int> won{0}, taken{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      try {
        this->store_->create_user(name, "h" + std::to_string(i), "user");
        ++won;
      } catch (const LoginTaken&) {
        ++taken;
      } catch (...) {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won, 1);
  EXPECT_EQ(taken, 7);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(this->store_->count_users(), 1);
}

TYPED_TEST(UserStoreTest, SetRole) {
  auto name = this->login("role");
  this->store_->create_user(name, "h", "user");
  EXPECT_TRUE(this->store_->set_role(name, "admin"));
  EXPECT_EQ(this->store_->find_by_login(name)->role, "admin");
  EXPECT_FALSE(this->store_->set_role(this->login("ghost"), "admin"));
}

TYPED_TEST(UserStoreTest, SetQuota) {
  auto name = this->login("quota");
  this->store_->create_user(name, "h", "user");
  EXPECT_TRUE(this->store_->set_quota(name, 1000));
  EXPECT_EQ(this->store_->find_by_login(name)->snapshot_storage_capacity, 1000);
  EXPECT_TRUE(this->store_->set_quota(name, 0));
  EXPECT_EQ(this->store_->find_by_login(name)->snapshot_storage_capacity, 0);
  EXPECT_FALSE(this->store_->set_quota(this->login("ghost"), 10));
  EXPECT_THROW(this->store_->set_quota(name, -1), std::invalid_argument);
}

TYPED_TEST(UserStoreTest, QuotaBelowStoredIsRefusedAndChangesNothing) {
  auto name = this->login("below");
  this->store_->create_user(name, "h", "user");
  this->store_->execute_for_test("UPDATE users SET snapshot_stored = 120 WHERE login = '" + name +
                                 "'");
  EXPECT_THROW(this->store_->set_quota(name, 119), std::invalid_argument);
  auto u = this->store_->find_by_login(name);
  EXPECT_EQ(u->snapshot_storage_capacity, 300);
  EXPECT_EQ(u->snapshot_stored, 120);
  EXPECT_TRUE(this->store_->set_quota(name, 120));  // equal is fine
}

TYPED_TEST(UserStoreTest, CheckConstraintHoldsForDirectWrites) {
  auto name = this->login("check");
  this->store_->create_user(name, "h", "user");
  auto where = " WHERE login = '" + name + "'";
  EXPECT_ANY_THROW(this->store_->execute_for_test(
      "UPDATE users SET snapshot_stored = snapshot_storage_capacity + 1" + where));
  EXPECT_ANY_THROW(this->store_->execute_for_test("UPDATE users SET snapshot_stored = -1" + where));
  EXPECT_ANY_THROW(
      this->store_->execute_for_test("UPDATE users SET snapshot_storage_capacity = -5" + where));
  EXPECT_EQ(this->store_->find_by_login(name)->snapshot_stored, 0);
  // And the store keeps working after the refused statements.
  EXPECT_TRUE(this->store_->set_quota(name, 500));
}

TYPED_TEST(UserStoreTest, CountUsers) {
  EXPECT_EQ(this->store_->count_users(), 0);
  for (int i = 0; i < 3; ++i) this->store_->create_user(this->login("n"), "h", "user");
  EXPECT_EQ(this->store_->count_users(), 3);
}

TYPED_TEST(UserStoreTest, MigrationsAreVersionedAndIdempotentOnReopen) {
  const auto latest = static_cast<std::int64_t>(migrations_for(*this->store_).size());
  EXPECT_EQ(this->store_->schema_version(), latest);
  auto name = this->login("keep");
  auto u = this->store_->create_user(name, "h", "user");
  this->store_.reset();

  auto again = this->backend_.open();  // runs the migration step again: nothing to do
  EXPECT_EQ(again->schema_version(), latest);
  EXPECT_EQ(again->find_by_login(name)->id, u.id);
  EXPECT_EQ(again->count_users(), 1);
}

TYPED_TEST(UserStoreTest, StoresOpeningTogetherOnAFreshDatabaseMigrateOnce) {
  TypeParam fresh;  // a new directory / schema, nothing applied yet
  ASSERT_EQ(fresh.error, "");
  std::vector<std::unique_ptr<typename TypeParam::Store>> stores(4);
  std::vector<std::thread> threads;
  for (auto& s : stores) threads.emplace_back([&s, &fresh] { s = fresh.open(); });
  for (auto& t : threads) t.join();
  for (auto& s : stores) {
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version(), static_cast<std::int64_t>(migrations_for(*s).size()));
  }
  stores[0]->create_user(this->login("fresh"), "h", "user");
  EXPECT_EQ(stores[3]->count_users(), 1);
}

TYPED_TEST(UserStoreTest, FactoryPicksTheBackend) {
  auto store = make_user_store(this->backend_.config());
  EXPECT_EQ(store->backend_name(), this->store_->backend_name());
  EXPECT_GE(store->count_users(), 0);
}

TEST(UserStoreFactory, RejectsOtherSchemesWithoutEchoingTheUrl) {
  Config c;
  c.database_url = "mysql://u:hunter2@h/db";
  try {
    make_user_store(c);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
}

TEST(SqliteUserStore, CreatesDataDirAndUsesWal) {
  TempDir dir;
  auto data = dir.path() / "a" / "b";
  SqliteUserStore store(data.string());
  EXPECT_TRUE(std::filesystem::exists(data / "vmshare.db"));
  store.create_user(unique_name("wal"), "h", "user");
  EXPECT_TRUE(std::filesystem::exists(data / "vmshare.db-wal"));
}

}  // namespace
}  // namespace vmshare::store::test
