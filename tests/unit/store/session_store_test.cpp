// One suite, run against the in-process store and against a real Redis.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "session_store_backends.h"

namespace vmshare::store::test {
namespace {

using namespace std::chrono_literals;

template <class Backend>
class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!backend_.error.empty()) GTEST_FAIL() << backend_.error;
    store_ = backend_.open();
  }
  bool active_has(const std::string& vmid) {
    auto all = store_->list_active();
    return std::any_of(all.begin(), all.end(), [&](const VmSession& s) { return s.vmid == vmid; });
  }

  Backend backend_;
  std::unique_ptr<SessionStore> store_;
};

using Backends = ::testing::Types<MemoryBackend, RedisBackend>;
class BackendNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryBackend> ? "memory" : "redis";
  }
};
TYPED_TEST_SUITE(SessionStoreTest, Backends, BackendNames);

TYPED_TEST(SessionStoreTest, PutGetRoundTrip) {
  auto s = make_session(unique_user_id(), "debian", 1700000000);
  this->store_->put_vm(s);
  auto got = this->store_->get_vm(s.vmid);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->vmid, s.vmid);
  EXPECT_EQ(got->user_id, s.user_id);
  EXPECT_EQ(got->os_type, "debian");
  EXPECT_EQ(got->pid, s.pid);
  EXPECT_EQ(got->status, "running");
  EXPECT_EQ(got->started_at, s.started_at);
  EXPECT_EQ(got->expires_at, s.expires_at);
  EXPECT_EQ(got->node, "node-a");
  EXPECT_EQ(got->extra, s.extra);
  EXPECT_EQ(this->store_->vm_by_pid(s.pid), s.vmid);
  EXPECT_TRUE(this->active_has(s.vmid));
  EXPECT_FALSE(this->store_->get_vm(unique_name("missing")));
  EXPECT_FALSE(this->store_->vm_by_pid(unique_pid()));
}

TYPED_TEST(SessionStoreTest, ReplaceMovesEveryIndex) {
  auto s = make_session(unique_user_id(), "debian", 100);
  this->store_->put_vm(s);
  auto moved = s;
  moved.user_id = unique_user_id();
  moved.os_type = "alpine";
  moved.pid = unique_pid();
  moved.status = "stopping";
  moved.extra = {{"other", "x"}};
  this->store_->put_vm(moved);

  auto got = this->store_->get_vm(s.vmid);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, "stopping");
  EXPECT_EQ(got->extra, moved.extra);  // replaced, not merged
  EXPECT_FALSE(this->store_->vm_by_pid(s.pid));
  EXPECT_EQ(this->store_->vm_by_pid(moved.pid), s.vmid);
  EXPECT_TRUE(this->store_->list_user(s.user_id).empty());
  ASSERT_EQ(this->store_->list_user(moved.user_id).size(), 1u);
}

TYPED_TEST(SessionStoreTest, RemoveDropsSessionAndIndexes) {
  auto s = make_session(unique_user_id(), "debian", 100);
  this->store_->put_vm(s);
  this->store_->remove_vm(s.vmid);
  EXPECT_FALSE(this->store_->get_vm(s.vmid));
  EXPECT_FALSE(this->store_->vm_by_pid(s.pid));
  EXPECT_TRUE(this->store_->list_user(s.user_id).empty());
  EXPECT_FALSE(this->active_has(s.vmid));
  EXPECT_NO_THROW(this->store_->remove_vm(s.vmid));  // twice is fine
}

TYPED_TEST(SessionStoreTest, RemoveLeavesAPidReusedByAnotherVm) {
  auto a = make_session(unique_user_id(), "debian", 100);
  this->store_->put_vm(a);
  auto b = make_session(unique_user_id(), "debian", 200);
  b.pid = a.pid;  // same pid on another node
  this->store_->put_vm(b);
  this->store_->remove_vm(a.vmid);
  EXPECT_EQ(this->store_->vm_by_pid(a.pid), b.vmid);
}

TYPED_TEST(SessionStoreTest, ListUserIsNewestFirst) {
  auto uid = unique_user_id();
  auto old = make_session(uid, "debian", 1000);
  auto mid = make_session(uid, "alpine", 2000);
  auto newest = make_session(uid, "debian", 3000);
  for (auto* s : {&mid, &newest, &old}) this->store_->put_vm(*s);
  this->store_->put_vm(make_session(unique_user_id(), "debian", 2500));  // someone else's
  auto list = this->store_->list_user(uid);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].vmid, newest.vmid);
  EXPECT_EQ(list[1].vmid, mid.vmid);
  EXPECT_EQ(list[2].vmid, old.vmid);
  EXPECT_TRUE(this->active_has(old.vmid));
  EXPECT_TRUE(this->active_has(mid.vmid));
  EXPECT_TRUE(this->store_->list_user(unique_user_id()).empty());
}

TYPED_TEST(SessionStoreTest, RevokedTokensExpireWithTheirTtl) {
  auto jti = unique_name("jti");
  auto keep = unique_name("jti");
  EXPECT_FALSE(this->store_->is_revoked(jti));
  this->store_->revoke_token(jti, 1s);
  this->store_->revoke_token(keep, 60s);
  EXPECT_TRUE(this->store_->is_revoked(jti));
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(this->store_->is_revoked(jti));
  EXPECT_TRUE(this->store_->is_revoked(keep));
}

// Counter keys as auth/throttle_key.h makes them: short, fixed size.
std::string counter_key() { return "t:" + unique_name("k").substr(0, 30); }

TYPED_TEST(SessionStoreTest, CountersCountInAFixedWindow) {
  auto key = counter_key();
  EXPECT_EQ(this->store_->counter(key).count, 0);
  for (int i = 1; i <= 3; ++i) {
    auto w = this->store_->hit_counter(key, 60s);
    EXPECT_EQ(w.count, i);
    EXPECT_GT(w.retry_after, 0s);
    EXPECT_LE(w.retry_after, 60s);
  }
  auto w = this->store_->counter(key);
  EXPECT_EQ(w.count, 3);
  EXPECT_GT(w.retry_after, 50s);
  this->store_->clear_counter(key);
  EXPECT_EQ(this->store_->counter(key).count, 0);
  EXPECT_EQ(this->store_->hit_counter(key, 60s).count, 1);
}

TYPED_TEST(SessionStoreTest, ReleaseHandsOneBackButNeverBelowZero) {
  auto key = counter_key();
  this->store_->hit_counter(key, 60s);
  this->store_->hit_counter(key, 60s);
  this->store_->release_counter(key);
  EXPECT_EQ(this->store_->counter(key).count, 1);
  this->store_->release_counter(key);
  this->store_->release_counter(key);
  EXPECT_EQ(this->store_->counter(key).count, 0);
  auto missing = counter_key();
  this->store_->release_counter(missing);  // no key made (in Redis: none without a TTL)
  EXPECT_EQ(this->store_->counter(missing).count, 0);
  EXPECT_EQ(this->store_->hit_counter(missing, 60s).count, 1);
}

TYPED_TEST(SessionStoreTest, CounterKeysAreBounded) {
  EXPECT_THROW(this->store_->hit_counter(std::string(41, 'k'), 60s), std::invalid_argument);
  EXPECT_THROW(this->store_->hit_counter("", 60s), std::invalid_argument);
  EXPECT_EQ(this->store_->hit_counter(std::string(40, 'k') + "", 1s).count >= 1, true);
}

TYPED_TEST(SessionStoreTest, ParallelHitsEachGetTheirOwnCount) {
  auto key = counter_key();
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::int64_t> seen;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto n = this->store_->hit_counter(key, 60s).count;
        std::lock_guard lock(mu);
        seen.push_back(n);
      }
    });
  for (auto& th : threads) th.join();
  std::sort(seen.begin(), seen.end());
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<std::int64_t>(i + 1));
}

TYPED_TEST(SessionStoreTest, CounterWindowDoesNotSlideAndThenResets) {
  auto key = counter_key();
  this->store_->hit_counter(key, 2s);
  std::this_thread::sleep_for(1100ms);
  auto w = this->store_->hit_counter(key, 2s);
  EXPECT_EQ(w.count, 2);
  EXPECT_LE(w.retry_after, 1s);  // the window started at the first hit
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(this->store_->counter(key).count, 0);
  EXPECT_EQ(this->store_->counter(key).retry_after, 0s);
  EXPECT_EQ(this->store_->hit_counter(key, 2s).count, 1);
}

TYPED_TEST(SessionStoreTest, ConcurrentUseFromManyThreads) {
  auto uid = unique_user_id();
  auto login = counter_key();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        this->store_->put_vm(make_session(uid, "debian", t * 100 + i));
        this->store_->hit_counter(login, 60s);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(this->store_->list_user(uid).size(), 80u);
  EXPECT_EQ(this->store_->counter(login).count, 80);
}

TYPED_TEST(SessionStoreTest, FactoryPicksTheBackend) {
  auto store = make_session_store(this->backend_.config());
  EXPECT_EQ(store->backend_name(), this->store_->backend_name());
}

TEST(SessionStoreFactory, BadRedisUrlIsAConfigErrorWithoutThePassword) {
  Config c;
  c.redis_url = "redis://:hunter2@h:notaport";
  try {
    make_session_store(c);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
}

// In process, throttling memory is capped: past max_counters, expired windows go first, then
// those that end soonest; the key being counted is always kept.
TEST(MemorySessionStoreCap, HoldsAtMostMaxCounters) {
  MemorySessionStore store(1024);
  for (int i = 0; i < 5000; ++i) {
    const auto key = "t:" + std::to_string(i);
    EXPECT_EQ(store.hit_counter(key, std::chrono::seconds(60 + i)).count, 1);
    ASSERT_LE(store.counters_held(), 1024u);
  }
  EXPECT_EQ(store.counter("t:4999").count, 1);
  EXPECT_EQ(store.counter("t:0").count, 0);  // the soonest to end went first
}

}  // namespace
}  // namespace vmshare::store::test
