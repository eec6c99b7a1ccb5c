#include "vm/viewer_slots.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace vmshare::vm {
namespace {

TEST(ViewerSlots, PerVmLimitThenPerUserLimit) {
  auto slots = ViewerSlots::create({2, 3});
  auto a = slots->admit("vm1", 1), b = slots->admit("vm1", 1);
  ASSERT_TRUE(a.slot);
  ASSERT_TRUE(b.slot);
  auto c = slots->admit("vm1", 2);  // the VM is full, whoever asks
  EXPECT_FALSE(c.slot);
  EXPECT_EQ(c.refusal, ViewerSlots::Refusal::vm_full);
  auto d = slots->admit("vm2", 1);  // user 1's third
  ASSERT_TRUE(d.slot);
  auto e = slots->admit("vm3", 1);
  EXPECT_EQ(e.refusal, ViewerSlots::Refusal::user_full);
  EXPECT_EQ(slots->viewers_of_vm("vm1"), 2);
  EXPECT_EQ(slots->viewers_of_user(1), 3);
  EXPECT_EQ(slots->total(), 3);
  EXPECT_NE(slots->explain(ViewerSlots::Refusal::vm_full).find("2 open consoles"), std::string::npos);
  EXPECT_NE(slots->explain(ViewerSlots::Refusal::user_full).find("3 open consoles"), std::string::npos);
  // A share-link visitor counts against the owner's caps but has no consoles of their own.
  const auto visitor = ViewerSlots::Audience::link_visitor;
  EXPECT_EQ(slots->explain(ViewerSlots::Refusal::user_full, visitor),
            "This console has as many viewers as its owner allows; try again later");
  EXPECT_EQ(slots->explain(ViewerSlots::Refusal::vm_full, visitor).find("You"), std::string::npos);
  EXPECT_EQ(slots->explain(ViewerSlots::Refusal::vm_full, visitor).find("close one"), std::string::npos);
}

TEST(ViewerSlots, ReleasedOnceByReleaseDestructionOrMove) {
  auto slots = ViewerSlots::create({1, 10});
  {
    auto a = slots->admit("vm1", 1);
    ASSERT_TRUE(a.slot);
    EXPECT_FALSE(slots->admit("vm1", 1).slot);
    ViewerSlots::Slot moved = std::move(a.slot);
    EXPECT_FALSE(a.slot);
    EXPECT_EQ(slots->total(), 1);
    moved.release();
    moved.release();  // idempotent
    EXPECT_EQ(slots->total(), 0);
  }
  EXPECT_EQ(slots->total(), 0);
  { auto b = slots->admit("vm1", 1); }  // dropped unused (a handshake that failed)
  EXPECT_EQ(slots->viewers_of_vm("vm1"), 0);
  EXPECT_EQ(slots->viewers_of_user(1), 0);
  EXPECT_TRUE(slots->admit("vm1", 1).slot);
}

TEST(ViewerSlots, SlotOutlivesTheTablesHolder) {
  auto slots = ViewerSlots::create({1, 1});
  auto a = slots->admit("vm1", 1);
  std::weak_ptr<ViewerSlots> weak = slots;
  slots.reset();
  EXPECT_FALSE(weak.expired());  // the slot keeps it
  a.slot.release();
  EXPECT_TRUE(weak.expired());
}

TEST(ViewerSlots, ConcurrentAdmissionsNeverPassTheLimit) {
  auto slots = ViewerSlots::create({5, 1000});
  std::vector<ViewerSlots::Slot> held(40);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 40; ++i)
    threads.emplace_back([&, i] {
      auto a = slots->admit("vm", i);
      if (a.slot) {
        ++admitted;
        held[i] = std::move(a.slot);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 5);
  EXPECT_EQ(slots->viewers_of_vm("vm"), 5);
  held.clear();
  EXPECT_EQ(slots->total(), 0);
}

}  // namespace
}  // namespace vmshare::vm
