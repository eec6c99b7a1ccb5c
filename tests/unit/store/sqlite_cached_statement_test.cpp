#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/db_observer.h"
#include "store/sqlite_db.h"

using namespace vmshare::store;

namespace {

struct TempDb {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("vmshare-cached-" + std::to_string(::getpid()) + "-" +
                                ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
  ~TempDb() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  }
};

std::string value_of(SqliteDb& db, std::int64_t id) {
  auto st = db.prepare_cached("SELECT v FROM t WHERE id = ?");
  st.bind(1, id);
  return st.step() ? st.column_text(0) : "<none>";
}

}  // namespace

TEST(SqliteCachedStatement, ReusedWithFreshBindingsEachTime) {
  TempDb tmp;
  SqliteDb db(tmp.path.string(), 1000);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  db.exec("INSERT INTO t (id, v) VALUES (1, 'one'), (2, 'two')");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(value_of(db, 1), "one");
    EXPECT_EQ(value_of(db, 2), "two");
    EXPECT_EQ(value_of(db, 3), "<none>");
  }
  // A handle left after its first row (as find_by_id does) still leaves the next use clean.
  {
    auto st = db.prepare_cached("SELECT v FROM t ORDER BY id");
    ASSERT_TRUE(st.step());
  }
  auto st = db.prepare_cached("SELECT v FROM t ORDER BY id");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.column_text(0), "one");
  EXPECT_EQ(db_calls_in_flight(), 0);
}

TEST(SqliteCachedStatement, DoesNotHoldAReadOpenAfterUse) {
  TempDb tmp;
  SqliteDb reader(tmp.path.string(), 1000);
  reader.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  reader.exec("INSERT INTO t (id, v) VALUES (1, 'old')");
  {
    auto st = reader.prepare_cached("SELECT v FROM t WHERE id = ?");
    st.bind(1, std::int64_t{1});
    ASSERT_TRUE(st.step());  // mid-read when the handle goes
  }
  SqliteDb writer(tmp.path.string(), 1000);
  writer.exec("UPDATE t SET v = 'new' WHERE id = 1");
  // A kept snapshot would still show 'old', and would stop a full checkpoint.
  EXPECT_EQ(value_of(reader, 1), "new");
  EXPECT_NO_THROW(writer.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
}

TEST(SqliteCachedStatement, SeesSchemaChangesMadeElsewhere) {
  TempDb tmp;
  SqliteDb a(tmp.path.string(), 1000);
  a.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  a.exec("INSERT INTO t (id, v) VALUES (1, 'x')");
  EXPECT_EQ(value_of(a, 1), "x");
  SqliteDb b(tmp.path.string(), 1000);
  b.exec("ALTER TABLE t ADD COLUMN w TEXT");
  b.exec("CREATE INDEX t_v ON t (v)");
  EXPECT_EQ(value_of(a, 1), "x");  // recompiled by SQLite, not an error
}
