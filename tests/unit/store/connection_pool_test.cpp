#include "store/connection_pool.h"

#include <gtest/gtest.h>

namespace vmshare::store {
namespace {

struct FakeConn {
  int id;
};

TEST(ConnectionPool, ReusesAndBounds) {
  int made = 0;
  ConnectionPool<FakeConn> pool(2, [&] { return std::make_unique<FakeConn>(FakeConn{++made}); },
                                std::chrono::milliseconds(50));
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    EXPECT_FALSE(a.reused());
    EXPECT_EQ(pool.in_use(), 2u);
    EXPECT_THROW(pool.acquire(), ServiceUnavailable);  // full: waits, then gives up
  }
  auto c = pool.acquire();
  EXPECT_TRUE(c.reused());
  EXPECT_EQ(made, 2);
}

TEST(ConnectionPool, DiscardAndDropIdleForceNewConnections) {
  int made = 0;
  ConnectionPool<FakeConn> pool(2, [&] { return std::make_unique<FakeConn>(FakeConn{++made}); });
  {
    auto a = pool.acquire();
    a.discard();
  }
  { auto b = pool.acquire(); }
  EXPECT_EQ(made, 2);
  {
    auto held = pool.acquire();  // checked out across drop_idle: not pooled again
    pool.drop_idle();
  }
  auto d = pool.acquire();
  EXPECT_FALSE(d.reused());
  EXPECT_EQ(made, 3);
}

TEST(ConnectionPool, FactoryFailureFreesTheSlot) {
  bool fail = true;
  ConnectionPool<FakeConn> pool(1, [&] {
    if (fail) throw std::runtime_error("down");
    return std::make_unique<FakeConn>(FakeConn{1});
  });
  EXPECT_THROW(pool.acquire(), std::runtime_error);
  fail = false;
  EXPECT_NO_THROW(pool.acquire());
}

}  // namespace
}  // namespace vmshare::store
