// vmshare_db_query_seconds{op} means the same on both backends: each store call is reported
// under the op of what it does (SQLite per statement, PostgreSQL per call), never "transaction".
#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "store/db_observer.h"
#include "user_store_backends.h"

namespace vmshare::store::test {
namespace {

std::mutex g_mu;
std::vector<std::string> g_ops;
void record(const char* op, double, bool) {
  std::lock_guard lock(g_mu);
  g_ops.emplace_back(op);
}

// The ops one call reports.
std::set<std::string> ops_of(const std::function<void()>& call) {
  {
    std::lock_guard lock(g_mu);
    g_ops.clear();
  }
  set_db_observer(&record);
  call();
  set_db_observer(nullptr);
  std::lock_guard lock(g_mu);
  return {g_ops.begin(), g_ops.end()};
}

template <class Backend>
class DbOpLabelsTest : public UserStoreFixture<Backend> {};

TYPED_TEST_SUITE(DbOpLabelsTest, Backends, BackendNames);

TYPED_TEST(DbOpLabelsTest, EachCallIsLabelledByWhatItDoes) {
  auto& s = *this->store_;
  s.count_users();  // migrations happen on the first PostgreSQL call: keep them out
  const auto login = unique_name("ops");
  User u;
  const std::set<std::string> vocabulary{"select", "insert", "update", "delete", "other"};
  auto expect = [&](const char* what, const char* op, const std::function<void()>& call) {
    const auto ops = ops_of(call);
    EXPECT_TRUE(ops.count(op)) << what << " should report " << op;
    for (const auto& o : ops) EXPECT_TRUE(vocabulary.count(o)) << what << " reported " << o;
  };
  expect("create_user", "insert", [&] { u = s.create_user(login, "h", "user"); });
  expect("find_by_login", "select", [&] { s.find_by_login(login); });
  expect("find_by_id", "select", [&] { s.find_by_id(u.id); });
  expect("set_role", "update", [&] { s.set_role(login, "admin"); });
  expect("set_quota", "update", [&] { s.set_quota(login, 500); });
  expect("count_users", "select", [&] { s.count_users(); });

  SnapshotRecord rec;
  rec.name = std::to_string(u.id) + "__tiny__" + unique_name("vm") + ".qcow2";
  rec.user_id = u.id;
  rec.os_type = "tiny";
  rec.vmid = "vm1";
  rec.size_mb = 10;
  rec.created_at = 1;
  rec.file = "snapshots/" + rec.name;
  rec.node = "n1";
  expect("reserve_snapshot", "insert", [&] { s.reserve_snapshot(rec); });
  expect("settle_snapshot", "update", [&] { s.settle_snapshot(rec.name, 12); });
  expect("find_snapshot", "select", [&] { s.find_snapshot(u.id, rec.name); });
  expect("list_snapshots", "select", [&] { s.list_snapshots(u.id); });
  expect("all_snapshots", "select", [&] { s.all_snapshots(); });
  expect("release_snapshot", "delete", [&] { s.release_snapshot(rec.name); });
}

TEST(DbOpLabels, Names) {
  EXPECT_STREQ(db_op_name(DbOp::select), "select");
  EXPECT_STREQ(db_op_name(DbOp::insert), "insert");
  EXPECT_STREQ(db_op_name(DbOp::update), "update");
  EXPECT_STREQ(db_op_name(DbOp::delete_), "delete");
  EXPECT_STREQ(db_op_name(DbOp::other), "other");
}

}  // namespace
}  // namespace vmshare::store::test
