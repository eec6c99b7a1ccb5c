// Recording records and the quota they charge (the snapshots' quota), against SQLite and a real
// PostgreSQL (see user_store_backends.h).
#include <gtest/gtest.h>

#include "user_store_backends.h"

namespace vmshare::store::test {
namespace {

template <class Backend>
class RecordingStoreTest : public UserStoreFixture<Backend> {
 protected:
  User user(std::int64_t capacity) { return this->user_with_quota("rec", capacity); }
  static RecordingRecord pending(const User& u, const std::string& id, std::int64_t mb, std::int64_t at = 1000) {
    RecordingRecord r;
    r.id = id;
    r.user_id = u.id;
    r.vmid = "vm1";
    r.os_type = "tiny";
    r.size_mb = mb;
    r.created_at = at;
    r.file = "recordings/" + std::to_string(u.id) + "/" + id + ".vmsrec";
    r.node = "n1";
    return r;
  }
};

TYPED_TEST_SUITE(RecordingStoreTest, Backends, BackendNames);

TYPED_TEST(RecordingStoreTest, ReserveSettleReleaseMoveTheQuota) {
  auto u = this->user(100);
  const auto id = "rec-" + unique_name("a").substr(0, 8);
  EXPECT_EQ(this->store_->reserve_recording(this->pending(u, id, 64)).snapshot_stored, 64);
  auto rec = this->store_->find_recording(u.id, id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->state, "recording");
  EXPECT_EQ(rec->node, "n1");
  // Over what is left: nothing changes.
  EXPECT_THROW(this->store_->reserve_recording(this->pending(u, id + "b", 40)), QuotaExceeded);
  EXPECT_EQ(this->stored(u), 64);
  EXPECT_EQ(this->store_->list_recordings(u.id).size(), 1u);
  // Settled to the file's size; never above what was reserved.
  EXPECT_EQ(this->store_->settle_recording(id, 7, 12345).snapshot_stored, 7);
  rec = this->store_->find_recording(u.id, id);
  EXPECT_EQ(rec->state, "ready");
  EXPECT_EQ(rec->size_mb, 7);
  EXPECT_EQ(rec->duration_ms, 12345);
  const auto big = id + "c";
  this->store_->reserve_recording(this->pending(u, big, 10, 2000));
  EXPECT_EQ(this->store_->settle_recording(big, 50, 1).snapshot_stored, 17);
  // Newest first; another user sees none of them.
  const auto all = this->store_->list_recordings(u.id);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, big);
  EXPECT_FALSE(this->store_->find_recording(this->user(10).id, id));
  // Release refunds.
  auto released = this->store_->release_recording(id);
  ASSERT_TRUE(released);
  EXPECT_EQ(released->size_mb, 7);
  EXPECT_EQ(this->stored(u), 10);
  EXPECT_FALSE(this->store_->release_recording(id));
  this->store_->release_recording(big);
  EXPECT_EQ(this->stored(u), 0);
}

}  // namespace
}  // namespace vmshare::store::test
