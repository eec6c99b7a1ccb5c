#include "obs/feedback_throttle.h"

#include <algorithm>

namespace vmshare::obs {

std::optional<std::chrono::seconds> FeedbackThrottle::take(std::int64_t user_id, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  // Every so often, so memory follows the users active within one window.
  if (++calls_ % 256 == 0) forget_idle(now);
  auto& times = sent_[user_id];
  while (!times.empty() && now - times.front() >= window_) times.pop_front();
  if (static_cast<int>(times.size()) >= max_) {
    const auto wait = std::chrono::ceil<std::chrono::seconds>(times.front() + window_ - now);
    return std::max(wait, std::chrono::seconds(1));
  }
  times.push_back(now);
  return std::nullopt;
}

void FeedbackThrottle::forget_idle(Clock::time_point now) {
  for (auto it = sent_.begin(); it != sent_.end();) {
    if (it->second.empty() || now - it->second.back() >= window_)
      it = sent_.erase(it);
    else
      ++it;
  }
}

std::size_t FeedbackThrottle::users_tracked() const {
  std::lock_guard lock(mutex_);
  return sent_.size();
}

}  // namespace vmshare::obs
