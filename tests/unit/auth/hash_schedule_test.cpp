#include "auth/hash_schedule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace vmshare::auth {
namespace {

using namespace std::chrono_literals;

const HashClock::time_point t0{};  // a made-up "now" origin; no clock is read

TEST(HashSchedule, DefaultThreadsLeaveOneCoreFree) {
  EXPECT_EQ(default_hash_threads(0), 1u);
  EXPECT_EQ(default_hash_threads(1), 1u);
  EXPECT_EQ(default_hash_threads(2), 1u);
  EXPECT_EQ(default_hash_threads(4), 3u);
  EXPECT_EQ(default_hash_threads(64), 63u);
}

TEST(HashSchedule, NiceLevelsAreRelativeToTheProcess) {
  EXPECT_EQ(hash_nice_levels(0).low, 10);
  EXPECT_EQ(hash_nice_levels(0).boosted, 0);
  EXPECT_EQ(hash_nice_levels(5).low, 15);
  EXPECT_EQ(hash_nice_levels(5).boosted, 5);
  EXPECT_EQ(hash_nice_levels(-5).low, 5);
  EXPECT_EQ(hash_nice_levels(-5).boosted, -5);
  // Nice stops at 19: a process already near it has nothing to lower (nor to raise back).
  EXPECT_EQ(hash_nice_levels(12).low, 19);
  EXPECT_EQ(hash_nice_levels(19).low, 19);
  EXPECT_EQ(hash_nice_levels(19).boosted, 19);
  EXPECT_EQ(hash_nice_levels(25).boosted, 19);
}

TEST(HashSchedule, OnlyRunningJobsPastTheLimitBecomeOverdue) {
  std::vector<HashSlot> slots(5);
  slots[0] = {true, false, t0};             // has run 1000 ms at t0 + 1 s: due
  slots[1] = {true, false, t0 + 500ms};     // 500 ms: not yet
  slots[2] = {true, true, t0 - 5s};         // already overdue
  slots[3] = {false, false, t0 - 5s};       // idle (a finished job's start is stale)
  slots[4] = {true, false, t0 - 1ms};       // 1001 ms: due
  EXPECT_EQ(newly_overdue(slots, t0 + 1s), (std::vector<std::size_t>{0, 4}));
  EXPECT_EQ(newly_overdue(slots, t0 + 999ms), (std::vector<std::size_t>{4}));
  EXPECT_EQ(newly_overdue(slots, t0 + 1500ms), (std::vector<std::size_t>{0, 1, 4}));
  // Time spent queued does not count: only `started` (when a thread took the job) matters.
  EXPECT_TRUE(newly_overdue(slots, t0 + 1s, 2s).empty());
}

TEST(HashSchedule, NextCheckIsTheEarliestJobNotYetOverdue) {
  std::vector<HashSlot> slots(4);
  EXPECT_FALSE(next_overdue_at(slots).has_value());  // nothing running: sleep until a job starts
  slots[0] = {true, false, t0 + 300ms};
  slots[1] = {true, true, t0};  // overdue jobs need no more checks
  slots[2] = {false, false, t0};
  slots[3] = {true, false, t0 + 200ms};
  ASSERT_TRUE(next_overdue_at(slots).has_value());
  EXPECT_EQ(*next_overdue_at(slots), t0 + 1200ms);
  EXPECT_EQ(*next_overdue_at(slots, 50ms), t0 + 250ms);
  slots[0].overdue = slots[3].overdue = true;
  EXPECT_FALSE(next_overdue_at(slots).has_value());
}

TEST(HashSchedule, AJobIsDueExactlyAtTheLimit) {
  const std::vector<HashSlot> slots{{true, false, t0}};
  EXPECT_EQ(newly_overdue(slots, *next_overdue_at(slots)).size(), 1u);
  EXPECT_TRUE(newly_overdue(slots, *next_overdue_at(slots) - 1ns).empty());
}

TEST(HashSchedule, OneMoreJobWhileOneIsOverdue) {
  std::vector<HashSlot> slots(3);
  EXPECT_EQ(hash_concurrency(1, slots), 1u);
  slots[0] = {true, false, t0};
  EXPECT_EQ(hash_concurrency(1, slots), 1u);
  slots[0].overdue = true;
  EXPECT_EQ(hash_concurrency(1, slots), 2u);
  EXPECT_EQ(hash_concurrency(3, slots), 4u);
  // Never more than one extra, however many are overdue.
  slots[1] = {true, true, t0};
  EXPECT_EQ(hash_concurrency(1, slots), 2u);
  // A finished job's stale flag does not count.
  slots[0].running = slots[1].running = false;
  EXPECT_EQ(hash_concurrency(1, slots), 1u);
  EXPECT_EQ(hash_concurrency(0, slots), 1u);  // at least one, whatever the caller says
}

}  // namespace
}  // namespace vmshare::auth
