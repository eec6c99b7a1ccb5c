#include "obs/feedback_throttle.h"

#include <gtest/gtest.h>

namespace vmshare::obs {
namespace {

using namespace std::chrono_literals;

TEST(FeedbackThrottle, AllowsMaxPerSlidingWindowPerUser) {
  FeedbackThrottle throttle(3, 60s);
  const auto t0 = FeedbackThrottle::Clock::time_point{} + 1000s;
  EXPECT_FALSE(throttle.take(1, t0));
  EXPECT_FALSE(throttle.take(1, t0 + 10s));
  EXPECT_FALSE(throttle.take(1, t0 + 20s));
  auto wait = throttle.take(1, t0 + 30s);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 30s);  // until the first of the three leaves the window
  EXPECT_FALSE(throttle.take(2, t0 + 30s));  // another user is not affected
  // A refusal records nothing: the first leaves the window at t0+60s.
  EXPECT_TRUE(throttle.take(1, t0 + 59s));
  EXPECT_FALSE(throttle.take(1, t0 + 60s));
  EXPECT_EQ(*throttle.take(1, t0 + 60s), 10s);
}

TEST(FeedbackThrottle, WaitIsAtLeastOneSecondAndIdleUsersAreForgotten) {
  FeedbackThrottle throttle(1, 5s);
  const auto t0 = FeedbackThrottle::Clock::time_point{} + 100s;
  EXPECT_FALSE(throttle.take(1, t0));
  EXPECT_EQ(*throttle.take(1, t0 + 4999ms), 1s);
  for (int user = 2; user < 300; ++user) throttle.take(user, t0);
  EXPECT_EQ(throttle.users_tracked(), 299u);
  // Later calls sweep the users whose window has passed.
  for (int i = 0; i < 300; ++i) throttle.take(1000, t0 + 10s + std::chrono::seconds(i * 6));
  EXPECT_LE(throttle.users_tracked(), 2u);
}

}  // namespace
}  // namespace vmshare::obs
