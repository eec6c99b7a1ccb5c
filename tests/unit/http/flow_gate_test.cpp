// The producer/writer handshake behind streamed responses.
#include "http/flow_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace vmshare::http {
namespace {

using namespace std::chrono_literals;
auto in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

TEST(FlowGate, AdmitsUpToCapacityThenWaitsForRelease) {
  FlowGate gate(100);
  EXPECT_TRUE(gate.acquire(60, in(0ms)));
  EXPECT_TRUE(gate.acquire(40, in(0ms)));
  EXPECT_EQ(gate.queued(), 100u);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(gate.acquire(1, in(50ms))) << "full: times out";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  gate.release(30);
  EXPECT_TRUE(gate.acquire(30, in(0ms)));
  EXPECT_FALSE(gate.acquire(1, in(0ms)));
}

TEST(FlowGate, AChunkLargerThanTheCapacityPassesAlone) {
  FlowGate gate(100);
  EXPECT_TRUE(gate.acquire(500, in(0ms)));
  EXPECT_FALSE(gate.acquire(500, in(10ms)));
  gate.release(500);
  EXPECT_EQ(gate.queued(), 0u);
  EXPECT_TRUE(gate.acquire(500, in(0ms)));
}

TEST(FlowGate, ReleaseWakesAWaitingProducer) {
  FlowGate gate(10);
  ASSERT_TRUE(gate.acquire(10, in(0ms)));
  std::atomic<bool> got{false};
  std::thread producer([&] { got = gate.acquire(5, in(5000ms)); });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(got);
  gate.release(5);
  producer.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(gate.queued(), 10u);
}

TEST(FlowGate, CloseReleasesTheProducerForGood) {
  FlowGate gate(10);
  ASSERT_TRUE(gate.acquire(10, in(0ms)));
  std::atomic<int> result{-1};
  std::thread producer([&] { result = gate.acquire(5, in(5000ms)) ? 1 : 0; });
  std::this_thread::sleep_for(20ms);
  gate.close();
  producer.join();
  EXPECT_EQ(result, 0);
  EXPECT_TRUE(gate.closed());
  gate.release(10);
  EXPECT_FALSE(gate.acquire(1, in(0ms))) << "a closed gate admits nothing, even when empty";
}

}  // namespace
}  // namespace vmshare::http
