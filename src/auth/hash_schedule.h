#pragma once
// The pure part of HashPool's scheduling: how many bcrypt jobs run at once, at which nice
// value, and what happens to a job that is being starved. No clocks or system calls here
// (HashPool supplies them), so the rules are unit-tested with made-up times.
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace vmshare::auth {

using HashClock = std::chrono::steady_clock;

// Default number of hashes at once: one core left free of bcrypt, at least one. When every core
// hashes, the process has runnable work on every core, and once other jobs on the host (another
// cgroup or autogroup: compilers, other services) take their share, a request thread that wakes
// up waits for its turn instead of preempting (/me p99 during 8 logins with two busy loops of
// other sessions on 2 cores: ~18-24 ms with two hash threads, ~8-10 ms with one; see
// docs/benchmarks.md).
unsigned default_hash_threads(unsigned cores);

// Hash threads run kHashNiceOffset below the process's own priority, so request threads keep
// the lead while hashes run...
constexpr int kHashNiceOffset = 10;
// ...until a job has run this long. An uncontended cost-12 hash takes 0.1 to 0.3 s; one still
// running after 1 s is being starved (every core busy, e.g. TCG guests spinning in the same
// group), and at nice +10 it would get ~10% of a core (~1.5 s or more per hash). Such a job is
// overdue: its thread is raised back to the process's own priority until the job ends (where
// the process may raise it), and one more job may start beside it (see hash_concurrency).
constexpr std::chrono::milliseconds kHashBoostAfter{1000};

struct HashNice {
  int low;      // while a job is young, and while idle
  int boosted;  // once a job is overdue
};
// For a process (thread) running at base_nice; nice values stop at 19.
HashNice hash_nice_levels(int base_nice);

// What the pool knows about one of its threads.
struct HashSlot {
  bool running = false;             // a job is on this thread
  bool overdue = false;             // and it has run kHashBoostAfter
  HashClock::time_point started{};  // when that job started (not when it was queued)
};

// How many jobs may run now: `base`, plus one while a running job is overdue. The core kept
// free of bcrypt is only worth keeping while hashes get the rest; when they starve, the cores
// are busy anyway, and without the extra job sign-ins would queue behind the starved one (on a
// 2-core host with spinning guests, 0.8 instead of 1.8 logins per second). Never more than one
// extra, however many are overdue.
unsigned hash_concurrency(unsigned base, std::span<const HashSlot> slots);

// Slots whose running job has reached `after` and is not yet marked overdue.
std::vector<std::size_t> newly_overdue(std::span<const HashSlot> slots, HashClock::time_point now,
                                       std::chrono::milliseconds after = kHashBoostAfter);
// When the earliest running job that is not overdue yet reaches `after`; nullopt when there is
// none (the monitor then sleeps until a job starts).
std::optional<HashClock::time_point> next_overdue_at(std::span<const HashSlot> slots,
                                                     std::chrono::milliseconds after = kHashBoostAfter);

}  // namespace vmshare::auth
