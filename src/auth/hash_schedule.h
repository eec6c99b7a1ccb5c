#pragma once
// The pure part of HashPool's scheduling: how many bcrypt threads, at which nice value, and
// when a job's thread is raised because the job is being starved. No clocks or system calls
// here (HashPool supplies them), so the rules are unit-tested with made-up times.
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace vmshare::auth {

using HashClock = std::chrono::steady_clock;

// Default pool size: one core left free of bcrypt, at least one thread. When every core hashes,
// the process always has runnable work on every core and, once the other jobs on the host
// (another cgroup or autogroup: compilers, guests) take their share, a request thread that
// wakes up waits for its turn instead of preempting (/me p99 during 8 logins went from ~18-24 ms
// to ~8-10 ms with two busy loops of other sessions on 2 cores; docs/benchmarks.md).
unsigned default_hash_threads(unsigned cores);

// Hash threads run kHashNiceOffset below the process's own priority, so request threads keep
// the lead while hashes run...
constexpr int kHashNiceOffset = 10;
// ...until a job has run this long. An uncontended cost-12 hash takes 0.1 to 0.3 s; one still
// running after 1 s is being starved (every core busy, e.g. TCG guests spinning in the same
// group), and at nice +10 it would get ~10% of a core (~2.5 s per hash). Its thread is raised
// back to the process's own priority until the job ends, which bounds a sign-in at about 1 s
// plus the hash's time at an equal share.
constexpr std::chrono::milliseconds kHashBoostAfter{1000};

struct HashNice {
  int low;      // while a job is young, and while idle
  int boosted;  // once a job has run kHashBoostAfter
};
// For a process (thread) running at base_nice; nice values stop at 19.
HashNice hash_nice_levels(int base_nice);

// What the pool knows about one of its threads.
struct HashSlot {
  bool running = false;         // a job is on this thread
  bool boosted = false;         // and its thread has been raised
  HashClock::time_point started{};  // when that job started (not when it was queued)
};

// Slots whose running job has reached `after` and is not boosted yet.
std::vector<std::size_t> slots_to_boost(std::span<const HashSlot> slots, HashClock::time_point now,
                                        std::chrono::milliseconds after = kHashBoostAfter);
// When the earliest running, unboosted job reaches `after`; nullopt when there is none (the
// monitor then sleeps until a job starts).
std::optional<HashClock::time_point> next_boost_at(std::span<const HashSlot> slots,
                                                   std::chrono::milliseconds after = kHashBoostAfter);

}  // namespace vmshare::auth
