#pragma once
// /feedback per user: at most `max` messages in any `window` (a sliding log of send times), so
// one account cannot flood the operators' Telegram chat. In memory, per node. Thread-safe.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

namespace vmshare::obs {

class FeedbackThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  FeedbackThrottle(int max, std::chrono::seconds window) : max_(max), window_(window) {}

  // Records a message by the user at `now` and returns nullopt, or, when the user has sent
  // `max` within the window, records nothing and returns the seconds until one more may go
  // (at least 1).
  std::optional<std::chrono::seconds> take(std::int64_t user_id, Clock::time_point now = Clock::now());

  std::size_t users_tracked() const;

 private:
  void forget_idle(Clock::time_point now);  // drops users with nothing in the window

  const int max_;
  const std::chrono::seconds window_;
  mutable std::mutex mutex_;
  std::map<std::int64_t, std::deque<Clock::time_point>> sent_;
  std::uint64_t calls_ = 0;
};

}  // namespace vmshare::obs
