#pragma once
// A bounded pool of blocking connections (PostgreSQL, Redis). A caller that finds its
// connection broken discards the lease; after an outage drop_idle() forgets every idle one,
// since they died with the same server, so the next call connects afresh.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/errors.h"

namespace vmshare::store {

template <class Conn>
class ConnectionPool {
 public:
  using Factory = std::function<std::unique_ptr<Conn>()>;

  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Conn> conn, std::uint64_t generation, bool reused)
        : pool_(pool), conn_(std::move(conn)), generation_(generation), reused_(reused) {}
    Lease(Lease&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)),
          conn_(std::move(o.conn_)),
          generation_(o.generation_),
          reused_(o.reused_) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_) pool_->release(std::move(conn_), generation_);
    }
    Conn& operator*() const { return *conn_; }
    Conn* operator->() const { return conn_.get(); }
    // The connection is broken or in an unknown state: close it instead of pooling it.
    void discard() { conn_.reset(); }
    // True when it sat idle before, so it may have died unnoticed (server restarted meanwhile).
    bool reused() const { return reused_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> conn_;
    std::uint64_t generation_;
    bool reused_;
  };

  ConnectionPool(std::size_t max_size, Factory factory,
                 std::chrono::milliseconds wait_timeout = std::chrono::seconds(5))
      : max_size_(max_size < 1 ? 1 : max_size),
        factory_(std::move(factory)),
        wait_timeout_(wait_timeout) {}

  // An idle connection, or a new one while fewer than max_size exist. Waits for a free slot up
  // to wait_timeout (then ServiceUnavailable). The factory's exceptions pass through.
  Lease acquire() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait_timeout_, [&] { return !idle_.empty() || total_ < max_size_; }))
      throw ServiceUnavailable("store: all connections busy");
    const auto gen = generation_;
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      ++in_use_;
      return Lease(this, std::move(conn), gen, true);
    }
    ++total_;  // reserve the slot, then connect without holding the lock
    ++in_use_;
    lock.unlock();
    try {
      return Lease(this, factory_(), gen, false);
    } catch (...) {
      lock.lock();
      --total_;
      --in_use_;
      cv_.notify_one();
      throw;
    }
  }

  void drop_idle() {
    std::lock_guard lock(mu_);
    total_ -= idle_.size();
    idle_.clear();
    ++generation_;  // leases out now are from before the outage too
    cv_.notify_all();
  }

  std::size_t in_use() const {
    std::lock_guard lock(mu_);
    return in_use_;
  }

 private:
  void release(std::unique_ptr<Conn> conn, std::uint64_t generation) {
    std::unique_ptr<Conn> doomed;  // closed outside the lock
    {
      std::lock_guard lock(mu_);
      --in_use_;
      if (conn && generation == generation_) {
        idle_.push_back(std::move(conn));
      } else {
        doomed = std::move(conn);
        --total_;
      }
    }
    cv_.notify_one();
  }

  const std::size_t max_size_;
  const Factory factory_;
  const std::chrono::milliseconds wait_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::size_t total_ = 0;
  std::size_t in_use_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace vmshare::store
