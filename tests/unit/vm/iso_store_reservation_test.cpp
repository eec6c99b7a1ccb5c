// IsoStore's admission of uploads: per-user slots, the node-wide cap and the free-space guard.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "vm/iso_store.h"

namespace vmshare::vm {
namespace {

using test::TempDir;

constexpr std::uint64_t kMiB = 1 << 20;

std::string fake_iso(std::size_t size) {
  std::string iso(size, '\0');
  iso.replace(0x8001, 5, "CD001");
  return iso;
}

void store_iso(IsoStore& store, std::int64_t user, std::size_t size) {
  auto upload = store.begin_upload(user);
  upload.write(fake_iso(size));
  upload.commit();
}

TEST(IsoStoreReservation, OneUploadPerUserAtATimeOthersUnaffected) {
  TempDir tmp;
  IsoStore store(tmp / "data", 4 * kMiB);
  store.set_limits({1, 100 * kMiB, 100, 0}, [](int) { return UINT64_MAX; });
  auto first = store.reserve(1, kMiB);
  EXPECT_THROW(store.reserve(1, kMiB), IsoUploadsBusy);
  auto other = store.reserve(2, kMiB);  // another account still gets a slot
  EXPECT_EQ(store.uploads_in_progress(), 2);
  first.release();
  EXPECT_EQ(store.uploads_in_progress(), 1);
  auto again = store.reserve(1, kMiB);  // the slot came back
  IsoReservation moved = std::move(again);
  EXPECT_EQ(store.uploads_in_progress(), 2);
  { IsoReservation gone = std::move(moved); }
  EXPECT_EQ(store.uploads_in_progress(), 1);

  store.set_limits({2, 100 * kMiB, 100, 0}, [](int) { return UINT64_MAX; });
  auto a = store.reserve(3, kMiB), b = store.reserve(3, kMiB);
  try {
    store.reserve(3, kMiB);
    FAIL() << "a third upload was admitted";
  } catch (const IsoUploadsBusy& e) {
    EXPECT_NE(std::string(e.what()).find("2 ISO uploads in progress"), std::string::npos) << e.what();
  }
}

TEST(IsoStoreReservation, NodeCapCountsStoredIsosAndUploadsInProgressButNotTheOneReplaced) {
  TempDir tmp;
  IsoStore store(tmp / "data", 4 * kMiB);
  store.set_limits({1, 3 * kMiB, 100, 0}, [](int) { return UINT64_MAX; });
  store_iso(store, 1, 2 * kMiB);
  EXPECT_EQ(store.usage().bytes, 2 * kMiB);
  EXPECT_EQ(store.usage().files, 1u);
  // User 1 replaces their own 2 MiB: only what others hold counts.
  { auto r = store.reserve(1, 3 * kMiB); }
  try {
    store.reserve(2, 2 * kMiB);
    FAIL() << "over the node's cap";
  } catch (const IsoStoreFull& e) {
    EXPECT_NE(std::string(e.what()).find("of 3 MB used"), std::string::npos) << e.what();
  }
  auto small = store.reserve(2, kMiB);  // exactly at the cap
  EXPECT_THROW(store.reserve(3, 1), IsoStoreFull);  // the reservation counts until released
  small.release();
  EXPECT_NO_THROW(store.reserve(3, 1));
}

TEST(IsoStoreReservation, FileCountCap) {
  TempDir tmp;
  IsoStore store(tmp / "data", 4 * kMiB);
  store.set_limits({1, 100 * kMiB, 2, 0}, [](int) { return UINT64_MAX; });
  store_iso(store, 1, 64 * 1024);
  auto second = store.reserve(2, kMiB);  // will be the second file
  EXPECT_THROW(store.reserve(3, kMiB), IsoStoreFull);
  EXPECT_NO_THROW(store.reserve(1, kMiB));  // a replacement adds no file
  second.release();
  store_iso(store, 2, 64 * 1024);
  EXPECT_THROW(store.reserve(3, kMiB), IsoStoreFull);
}

TEST(IsoStoreReservation, FreeSpaceGuardKeepsRoomForUploadsInProgress) {
  TempDir tmp;
  IsoStore store(tmp / "data", 64 * kMiB);
  std::uint64_t free = 10 * kMiB;
  store.set_limits({1, UINT64_MAX, 100, 4 * kMiB}, [&](int) { return free; });
  auto a = store.reserve(1, 5 * kMiB);      // 10 - 5 >= 4 ... leaves 5
  EXPECT_THROW(store.reserve(2, 2 * kMiB), IsoStorageFull);  // 10 - 5 - 2 < 4
  EXPECT_NO_THROW(store.reserve(2, kMiB));   // 10 - 5 - 1 = 4
  free = 3 * kMiB;                            // below the guard already
  EXPECT_THROW(store.reserve(3, 1), IsoStorageFull);
}

TEST(IsoStoreReservation, ConcurrentReservationsNeverPassTheCap) {
  TempDir tmp;
  IsoStore store(tmp / "data", 4 * kMiB);
  store.set_limits({1, 10 * kMiB, 1000, 0}, [](int) { return UINT64_MAX; });
  std::atomic<int> admitted{0};
  std::vector<IsoReservation> held(64);
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i)
    threads.emplace_back([&, i] {
      try {
        held[i] = store.reserve(100 + i, kMiB);
        ++admitted;
      } catch (const IsoStoreFull&) {
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 10);
}

}  // namespace
}  // namespace vmshare::vm
