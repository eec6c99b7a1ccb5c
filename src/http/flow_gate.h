#pragma once
// Backpressure between a thread that produces a response body (a handler on a worker) and the
// connection that writes it asynchronously: the producer takes credit for each chunk it hands
// over and waits while `capacity` bytes are still unwritten; the writer gives the credit back as
// chunks reach the socket. Closing the gate (client gone, write timed out) releases the producer.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace vmshare::http {

class FlowGate {
 public:
  explicit FlowGate(std::size_t capacity) : capacity_(capacity) {}

  // Blocks until `n` more bytes fit (a chunk larger than the capacity passes once nothing is
  // queued), the gate closes, or the deadline passes. True: the bytes are now queued.
  bool acquire(std::size_t n, std::chrono::steady_clock::time_point deadline);
  void release(std::size_t n);
  void close();
  bool closed() const;
  std::size_t queued() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t queued_ = 0;
  bool closed_ = false;
};

}  // namespace vmshare::http
