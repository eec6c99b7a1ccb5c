// Share links (issue 15): one suite against SQLite and a real PostgreSQL (user_store_backends.h).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "user_store_backends.h"

namespace vmshare::store::test {
namespace {

template <class Backend>
class ShareLinkStoreTest : public UserStoreFixture<Backend> {
 protected:
  void SetUp() override {
    UserStoreFixture<Backend>::SetUp();
    if (this->HasFatalFailure()) return;
    owner_ = this->store_->create_user(unique_name("share"), "h", "user");
  }
  ShareLink link(const std::string& vmid, const std::string& hash, std::int64_t now = 1000, std::int64_t ttl = 300) {
    ShareLink l;
    l.vmid = vmid;
    l.owner_id = owner_.id;
    l.token_hash = hash;
    l.mode = "view_only";
    l.require_sign_in = true;
    l.created_at = now;
    l.expires_at = now + ttl;
    return l;
  }

  User owner_;
};

TYPED_TEST_SUITE(ShareLinkStoreTest, Backends, BackendNames);

TYPED_TEST(ShareLinkStoreTest, CreateThenFindByHashKeepsEveryField) {
  auto made = this->store_->create_share_link(this->link("vm1", "aa"), 5);
  EXPECT_GT(made.id, 0);
  auto found = this->store_->find_share_link("aa");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, made.id);
  EXPECT_EQ(found->vmid, "vm1");
  EXPECT_EQ(found->owner_id, this->owner_.id);
  EXPECT_EQ(found->mode, "view_only");
  EXPECT_TRUE(found->require_sign_in);
  EXPECT_EQ(found->created_at, 1000);
  EXPECT_EQ(found->expires_at, 1300);
  EXPECT_EQ(found->revoked_at, 0);
  EXPECT_FALSE(this->store_->find_share_link("bb"));
}

TYPED_TEST(ShareLinkStoreTest, LimitCountsOnlyLiveLinksOfThatVm) {
  for (int i = 0; i < 2; ++i) this->store_->create_share_link(this->link("vm1", "h" + std::to_string(i)), 2);
  EXPECT_THROW(this->store_->create_share_link(this->link("vm1", "h9"), 2), ShareLinkLimitReached);
  EXPECT_FALSE(this->store_->find_share_link("h9")) << "a refused link leaves nothing";
  // Another VM has its own count; an expired link no longer counts.
  this->store_->create_share_link(this->link("vm2", "other"), 2);
  EXPECT_NO_THROW(this->store_->create_share_link(this->link("vm1", "later", 1301), 2));
  EXPECT_EQ(this->store_->live_share_links("vm1", 1301).size(), 1u);
}

TYPED_TEST(ShareLinkStoreTest, RevokeOnlyTheOwnersLiveLinkAndOnlyOnce) {
  auto made = this->store_->create_share_link(this->link("vm1", "aa"), 5);
  EXPECT_FALSE(this->store_->revoke_share_link(this->owner_.id + 1000, made.id, 1100)) << "not the owner";
  EXPECT_TRUE(this->store_->revoke_share_link(this->owner_.id, made.id, 1100));
  EXPECT_FALSE(this->store_->revoke_share_link(this->owner_.id, made.id, 1101)) << "already revoked";
  EXPECT_EQ(this->store_->find_share_link("aa")->revoked_at, 1100);
  EXPECT_TRUE(this->store_->live_share_links("vm1", 1100).empty());
  auto expired = this->store_->create_share_link(this->link("vm1", "bb"), 5);
  EXPECT_FALSE(this->store_->revoke_share_link(this->owner_.id, expired.id, 2000)) << "an expired link is not live";
}

TYPED_TEST(ShareLinkStoreTest, TheVmsEndRevokesAllItsLinks) {
  this->store_->create_share_link(this->link("vm1", "aa"), 5);
  this->store_->create_share_link(this->link("vm1", "bb"), 5);
  this->store_->create_share_link(this->link("vm2", "cc"), 5);
  EXPECT_EQ(this->store_->revoke_share_links_of_vm("vm1", 1200), 2);
  EXPECT_EQ(this->store_->revoke_share_links_of_vm("vm1", 1201), 0);
  EXPECT_TRUE(this->store_->live_share_links("vm1", 1200).empty());
  EXPECT_EQ(this->store_->live_share_links("vm2", 1200).size(), 1u);
}

TYPED_TEST(ShareLinkStoreTest, ConcurrentCreationsNeverPassTheLimit) {
  std::atomic<int> made{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      try {
        this->store_->create_share_link(this->link("vm1", "race" + std::to_string(i)), 3);
        ++made;
      } catch (const ShareLinkLimitReached&) {
        ++refused;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load(), 3);
  EXPECT_EQ(refused.load(), 5);
  EXPECT_EQ(this->store_->live_share_links("vm1", 1000).size(), 3u);
}

}  // namespace
}  // namespace vmshare::store::test
