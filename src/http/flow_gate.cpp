#include "http/flow_gate.h"

namespace vmshare::http {

bool FlowGate::acquire(std::size_t n, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  const bool fits = cv_.wait_until(lock, deadline, [&] { return closed_ || queued_ == 0 || queued_ + n <= capacity_; });
  if (!fits || closed_) return false;
  queued_ += n;
  return true;
}

void FlowGate::release(std::size_t n) {
  {
    std::lock_guard lock(mu_);
    queued_ = n > queued_ ? 0 : queued_ - n;
  }
  cv_.notify_all();
}

void FlowGate::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool FlowGate::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

std::size_t FlowGate::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}

}  // namespace vmshare::http
