// Snapshot records and the quota they charge: one suite, run against SQLite and a real
// PostgreSQL (see user_store_backends.h).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "user_store_backends.h"

namespace vmshare::store::test {
namespace {

template <class Backend>
class SnapshotStoreTest : public UserStoreFixture<Backend> {
 protected:
  // A user with `capacity` MB of snapshot quota.
  User user(std::int64_t capacity = 300) { return this->user_with_quota("snap", capacity); }
  static SnapshotRecord pending(const User& u, const std::string& tag, std::int64_t mb, std::int64_t at = 1000) {
    SnapshotRecord r;
    r.user_id = u.id;
    r.os_type = "tiny";
    r.vmid = "vm" + tag;
    r.name = std::to_string(u.id) + "__tiny__vm" + tag + ".qcow2";
    r.size_mb = mb;
    r.created_at = at;
    r.file = "snapshots/" + std::to_string(u.id) + "/" + r.name;
    return r;
  }
  std::int64_t sum_of_rows(const User& u) {
    std::int64_t sum = 0;
    for (const auto& r : this->store_->list_snapshots(u.id)) sum += r.size_mb;
    return sum;
  }
};

TYPED_TEST_SUITE(SnapshotStoreTest, Backends, BackendNames);

TYPED_TEST(SnapshotStoreTest, ReserveWithinQuotaChargesAndRecordsPending) {
  auto u = this->user(100);
  auto rec = this->pending(u, "a", 40, 1234);
  auto after = this->store_->reserve_snapshot(rec);
  EXPECT_EQ(after.id, u.id);
  EXPECT_EQ(after.snapshot_stored, 40);
  EXPECT_EQ(after.snapshot_storage_capacity, 100);
  EXPECT_EQ(this->stored(u), 40);
  auto found = this->store_->find_snapshot(u.id, rec.name);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, "pending");
  EXPECT_EQ(found->size_mb, 40);
  EXPECT_EQ(found->os_type, "tiny");
  EXPECT_EQ(found->vmid, "vma");
  EXPECT_EQ(found->created_at, 1234);
  EXPECT_EQ(found->file, rec.file);
  // Exactly up to the capacity is allowed.
  this->store_->reserve_snapshot(this->pending(u, "b", 60));
  EXPECT_EQ(this->stored(u), 100);
}

TYPED_TEST(SnapshotStoreTest, OverQuotaThrowsAndChangesNothing) {
  auto u = this->user(100);
  this->store_->reserve_snapshot(this->pending(u, "a", 70));
  auto big = this->pending(u, "b", 31);
  try {
    this->store_->reserve_snapshot(big);
    FAIL() << "expected QuotaExceeded";
  } catch (const QuotaExceeded& e) {
    EXPECT_EQ(e.stored, 70);
    EXPECT_EQ(e.capacity, 100);
    EXPECT_EQ(e.requested, 31);
  }
  EXPECT_EQ(this->stored(u), 70);
  EXPECT_FALSE(this->store_->find_snapshot(u.id, big.name));
  EXPECT_EQ(this->store_->list_snapshots(u.id).size(), 1u);
  // A zero-capacity user cannot reserve anything; an unknown user neither.
  auto none = this->user(0);
  EXPECT_THROW(this->store_->reserve_snapshot(this->pending(none, "z", 1)), QuotaExceeded);
  User ghost;
  ghost.id = 987654321;
  EXPECT_THROW(this->store_->reserve_snapshot(this->pending(ghost, "g", 1)), QuotaExceeded);
}

TYPED_TEST(SnapshotStoreTest, NameTakenThrowsAndRefundsTheCharge) {
  auto u = this->user(100);
  auto rec = this->pending(u, "a", 10);
  this->store_->reserve_snapshot(rec);
  auto again = rec;
  again.size_mb = 20;
  EXPECT_THROW(this->store_->reserve_snapshot(again), SnapshotNameTaken);
  EXPECT_EQ(this->stored(u), 10) << "the second charge is rolled back with the failed insert";
  EXPECT_EQ(this->store_->find_snapshot(u.id, rec.name)->size_mb, 10);
}

TYPED_TEST(SnapshotStoreTest, SettleUpAndDownMarksReady) {
  auto u = this->user(100);
  auto a = this->pending(u, "a", 30), b = this->pending(u, "b", 30);
  this->store_->reserve_snapshot(a);
  this->store_->reserve_snapshot(b);
  auto up = this->store_->settle_snapshot(a.name, 45);
  EXPECT_EQ(up.snapshot_stored, 75);
  auto down = this->store_->settle_snapshot(b.name, 5);
  EXPECT_EQ(down.snapshot_stored, 50);
  EXPECT_EQ(down.snapshot_storage_capacity, 100);
  EXPECT_EQ(this->stored(u), 50);
  auto ra = this->store_->find_snapshot(u.id, a.name), rb = this->store_->find_snapshot(u.id, b.name);
  EXPECT_EQ(ra->state, "ready");
  EXPECT_EQ(ra->size_mb, 45);
  EXPECT_EQ(rb->state, "ready");
  EXPECT_EQ(rb->size_mb, 5);
  EXPECT_EQ(this->sum_of_rows(u), this->stored(u));
}

TYPED_TEST(SnapshotStoreTest, SettleThatNoLongerFitsThrowsAndChangesNothing) {
  auto u = this->user(100);
  auto a = this->pending(u, "a", 50), b = this->pending(u, "b", 40);
  this->store_->reserve_snapshot(a);
  this->store_->reserve_snapshot(b);
  try {
    this->store_->settle_snapshot(a.name, 70);  // +20 on 90 of 100
    FAIL() << "expected QuotaExceeded";
  } catch (const QuotaExceeded& e) {
    EXPECT_EQ(e.stored, 90);
    EXPECT_EQ(e.capacity, 100);
    EXPECT_EQ(e.requested, 20);
  }
  EXPECT_EQ(this->stored(u), 90);
  auto ra = this->store_->find_snapshot(u.id, a.name);
  EXPECT_EQ(ra->state, "pending");
  EXPECT_EQ(ra->size_mb, 50);
  EXPECT_ANY_THROW(this->store_->settle_snapshot("no-such.qcow2", 1));
}

TYPED_TEST(SnapshotStoreTest, ReleaseRefundsAndDeletes) {
  auto u = this->user(100);
  auto a = this->pending(u, "a", 30), b = this->pending(u, "b", 20);
  this->store_->reserve_snapshot(a);
  this->store_->reserve_snapshot(b);
  this->store_->settle_snapshot(a.name, 25);
  auto released = this->store_->release_snapshot(a.name);
  ASSERT_TRUE(released);
  EXPECT_EQ(released->name, a.name);
  EXPECT_EQ(released->user_id, u.id);
  EXPECT_EQ(released->size_mb, 25);
  EXPECT_EQ(released->file, a.file);
  EXPECT_EQ(this->stored(u), 20);
  EXPECT_FALSE(this->store_->find_snapshot(u.id, a.name));
  EXPECT_FALSE(this->store_->release_snapshot(a.name)) << "a second release refunds nothing";
  EXPECT_EQ(this->stored(u), 20);
  // A pending record (a failed copy) is released the same way.
  EXPECT_EQ(this->store_->release_snapshot(b.name)->state, "pending");
  EXPECT_EQ(this->stored(u), 0);
}

TYPED_TEST(SnapshotStoreTest, ListIsNewestFirstAndPerOwner) {
  auto u = this->user(), other = this->user();
  this->store_->reserve_snapshot(this->pending(u, "old", 1, 100));
  this->store_->reserve_snapshot(this->pending(u, "new", 1, 300));
  this->store_->reserve_snapshot(this->pending(u, "mid", 1, 200));
  this->store_->reserve_snapshot(this->pending(other, "x", 1, 400));
  auto list = this->store_->list_snapshots(u.id);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].vmid, "vmnew");
  EXPECT_EQ(list[1].vmid, "vmmid");
  EXPECT_EQ(list[2].vmid, "vmold");
  EXPECT_EQ(this->store_->list_snapshots(other.id).size(), 1u);
  EXPECT_TRUE(this->store_->list_snapshots(987654321).empty());
  EXPECT_EQ(this->store_->all_snapshots().size(), 4u);
}

TYPED_TEST(SnapshotStoreTest, FindIsByOwnerOnly) {
  auto u = this->user(), other = this->user();
  auto rec = this->pending(u, "a", 1);
  this->store_->reserve_snapshot(rec);
  EXPECT_TRUE(this->store_->find_snapshot(u.id, rec.name));
  EXPECT_FALSE(this->store_->find_snapshot(other.id, rec.name)) << "another user's id finds nothing";
  EXPECT_FALSE(this->store_->find_snapshot(u.id, "../" + rec.name));
  EXPECT_FALSE(this->store_->find_snapshot(u.id, ""));
}

// Many writers against a tight quota: the conditional UPDATE admits exactly what fits, and the
// users row always equals the sum of the snapshot rows.
TYPED_TEST(SnapshotStoreTest, ConcurrentReservationsNeverExceedCapacity) {
  auto u = this->user(100);
  auto second = this->backend_.open();  // another connection to the same database
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&, i] {
      auto& store = i % 2 ? *second : *this->store_;
      try {
        store.reserve_snapshot(this->pending(u, "c" + std::to_string(i), 30));
        ++ok;
      } catch (const QuotaExceeded&) {
        ++refused;
      } catch (...) {
        ++other;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(refused.load(), 17);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(this->stored(u), 90);
  EXPECT_EQ(this->sum_of_rows(u), 90);
  EXPECT_EQ(this->store_->list_snapshots(u.id).size(), 3u);
}

TYPED_TEST(SnapshotStoreTest, ConcurrentReserveSettleReleaseKeepStoredEqualToRows) {
  auto u = this->user(100);
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&, i] {
      auto rec = this->pending(u, "m" + std::to_string(i), 20);
      try {
        this->store_->reserve_snapshot(rec);
      } catch (const QuotaExceeded&) {
        return;
      }
      try {
        this->store_->settle_snapshot(rec.name, 5 + i % 30);
      } catch (const QuotaExceeded&) {
        this->store_->release_snapshot(rec.name);  // what SnapshotService does on failure
        return;
      }
      if (i % 3 == 0) this->store_->release_snapshot(rec.name);
    });
  for (auto& t : threads) t.join();
  const auto s = this->stored(u);
  EXPECT_LE(s, 100);
  EXPECT_GE(s, 0);
  EXPECT_EQ(this->sum_of_rows(u), s);
}

TYPED_TEST(SnapshotStoreTest, UsersCheckStillHoldsWithSnapshots) {
  auto u = this->user(100);
  this->store_->reserve_snapshot(this->pending(u, "a", 60));
  const auto where = " WHERE id = " + std::to_string(u.id);
  EXPECT_ANY_THROW(this->store_->execute_for_test("UPDATE users SET snapshot_stored = 101" + where));
  EXPECT_ANY_THROW(this->store_->execute_for_test("UPDATE users SET snapshot_stored = -1" + where));
  EXPECT_THROW(this->store_->set_quota(this->store_->find_by_id(u.id)->login, 59), std::invalid_argument);
  EXPECT_EQ(this->stored(u), 60);
  // A negative size is refused by the snapshots table's own CHECK, charging nothing.
  EXPECT_ANY_THROW(this->store_->reserve_snapshot(this->pending(u, "neg", -10)));
  EXPECT_EQ(this->stored(u), 60);
  EXPECT_FALSE(this->store_->find_snapshot(u.id, this->pending(u, "neg", -10).name));
}

// A ready snapshot of `u` named by `tag`.
#define READY(u, tag, mb) [&] { \
    auto r = this->pending(u, tag, mb); \
    r.node = "node-a"; \
    this->store_->reserve_snapshot(r); \
    this->store_->settle_snapshot(r.name, mb); \
    return r; \
  }()

TYPED_TEST(SnapshotStoreTest, BootAndRemovalClaimsExcludeEachOther) {
  auto u = this->user(100);
  auto other = this->user(100);
  auto r = READY(u, "a", 10);
  // Only the owner, only a ready snapshot.
  EXPECT_FALSE(this->store_->claim_snapshot_boot(other.id, r.name));
  EXPECT_EQ(this->store_->claim_snapshot_removal(other.id, r.name), RemovalClaim::gone);
  auto pend = this->pending(u, "p", 5);
  this->store_->reserve_snapshot(pend);
  EXPECT_FALSE(this->store_->claim_snapshot_boot(u.id, pend.name));
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, pend.name), RemovalClaim::gone);

  // Two boots at once are fine; a removal waits for both to end.
  EXPECT_TRUE(this->store_->claim_snapshot_boot(u.id, r.name));
  EXPECT_TRUE(this->store_->claim_snapshot_boot(u.id, r.name));
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, r.name), RemovalClaim::booting);
  this->store_->release_snapshot_boot(r.name);
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, r.name), RemovalClaim::booting);
  this->store_->release_snapshot_boot(r.name);
  this->store_->release_snapshot_boot(r.name);  // an extra release never goes below zero
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, r.name), RemovalClaim::claimed);
  // Claimed for removal: no boot, no second removal; cancelled: both possible again.
  EXPECT_FALSE(this->store_->claim_snapshot_boot(u.id, r.name));
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, r.name), RemovalClaim::gone);
  this->store_->cancel_snapshot_removal(r.name);
  EXPECT_TRUE(this->store_->claim_snapshot_boot(u.id, r.name));
  this->store_->release_snapshot_boot(r.name);
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, r.name), RemovalClaim::claimed);
  ASSERT_TRUE(this->store_->release_snapshot(r.name));
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, r.name), RemovalClaim::gone);
  EXPECT_EQ(this->stored(u), 5);
}

TYPED_TEST(SnapshotStoreTest, ConcurrentBootAndRemovalExactlyOneWins) {
  auto u = this->user(1000);
  for (int round = 0; round < 20; ++round) {
    auto r = READY(u, "r" + std::to_string(round), 1);
    std::atomic<bool> go{false};
    bool booted = false;
    RemovalClaim removal{};
    std::thread boot([&] {
      while (!go) std::this_thread::yield();
      booted = this->store_->claim_snapshot_boot(u.id, r.name);
    });
    std::thread remove([&] {
      while (!go) std::this_thread::yield();
      removal = this->store_->claim_snapshot_removal(u.id, r.name);
    });
    go = true;
    boot.join();
    remove.join();
    EXPECT_NE(booted, removal == RemovalClaim::claimed) << "round " << round;
    EXPECT_EQ(booted, removal == RemovalClaim::booting) << "round " << round;
    if (booted) this->store_->release_snapshot_boot(r.name);
    else this->store_->cancel_snapshot_removal(r.name);
  }
}

TYPED_TEST(SnapshotStoreTest, StartUpResetsOnlyThisNodesClaimsAndNodeUsageCounts) {
  auto u = this->user(100);
  auto mine = READY(u, "m", 10);
  auto theirs = this->pending(u, "t", 20);
  theirs.node = "node-b";
  this->store_->reserve_snapshot(theirs);
  this->store_->settle_snapshot(theirs.name, 20);
  ASSERT_TRUE(this->store_->claim_snapshot_boot(u.id, mine.name));
  ASSERT_TRUE(this->store_->claim_snapshot_boot(u.id, theirs.name));
  EXPECT_EQ(this->store_->reset_snapshot_claims("node-a"), 1);
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, mine.name), RemovalClaim::claimed);
  EXPECT_EQ(this->store_->claim_snapshot_removal(u.id, theirs.name), RemovalClaim::booting);
  EXPECT_EQ(this->store_->reset_snapshot_claims("node-a"), 1);  // the removal claim
  EXPECT_EQ(this->store_->reset_snapshot_claims("node-a"), 0);
  EXPECT_EQ(this->store_->node_snapshot_usage("node-a").mb, 10);
  EXPECT_EQ(this->store_->node_snapshot_usage("node-a").files, 1);
  EXPECT_EQ(this->store_->node_snapshot_usage("node-b").mb, 20);
  EXPECT_EQ(this->store_->node_snapshot_usage("node-c").files, 0);
}

#undef READY

}  // namespace
}  // namespace vmshare::store::test
