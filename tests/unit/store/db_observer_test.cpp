#include "store/db_observer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/sqlite_db.h"

using namespace vmshare::store;

namespace {
struct Call {
  std::string op;
  bool failed;
};
std::vector<Call> g_calls;
void record(const char* op, double seconds, bool failed) {
  EXPECT_GE(seconds, 0);
  g_calls.push_back({op, failed});
}
}  // namespace

TEST(DbObserver, SqlOpFromFirstKeyword) {
  EXPECT_STREQ(sql_op("  SELECT 1"), "select");
  EXPECT_STREQ(sql_op("insert into t"), "insert");
  EXPECT_STREQ(sql_op("Update t set"), "update");
  EXPECT_STREQ(sql_op("DELETE FROM t"), "delete");
  EXPECT_STREQ(sql_op("selection"), "other");
  EXPECT_STREQ(sql_op("BEGIN"), "other");
  EXPECT_STREQ(sql_op(nullptr), "other");
}

TEST(DbObserver, SqliteStatementsAreTimedAndFailuresFlagged) {
  const auto path = std::filesystem::temp_directory_path() / ("vmshare-dbobs-" + std::to_string(::getpid()) + ".db");
  {
    SqliteDb db(path.string(), 1000);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)");
    set_db_observer(&record);
    g_calls.clear();
    db.prepare("INSERT INTO t (v) VALUES (?)").bind(1, std::string("a")).step();
    auto st = db.prepare("SELECT v FROM t");
    EXPECT_TRUE(st.step());
    EXPECT_THROW(db.prepare("INSERT INTO t (v) VALUES (?)").bind(1, std::string("a")).step(), std::exception);
    set_db_observer(nullptr);
    db.prepare("DELETE FROM t").step();  // no observer: not reported
  }
  std::filesystem::remove(path);
  ASSERT_EQ(g_calls.size(), 3u);
  EXPECT_EQ(g_calls[0].op, "insert");
  EXPECT_FALSE(g_calls[0].failed);
  EXPECT_EQ(g_calls[1].op, "select");
  EXPECT_EQ(g_calls[2].op, "insert");
  EXPECT_TRUE(g_calls[2].failed);
  EXPECT_EQ(db_calls_in_flight(), 0);
}
