#include "obs/proc_parsers.h"

#include <gtest/gtest.h>

using namespace vmshare::obs;

// Captured on a Debian 12 host.
constexpr const char* kStat1 =
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\n"
    "cpu0 1393280 32966 316322 6161071 1798 0 17060 0 0 0\n"
    "intr 1462898 0 0\n";
constexpr const char* kStat2 =
    "cpu  10132253 290696 3084819 46828683 16683 0 25195 0 0 0\n"
    "cpu0 1393280 32966 316322 6161071 1798 0 17060 0 0 0\n";

TEST(ProcParsers, ProcStatAndCpuPercent) {
  auto a = parse_proc_stat(kStat1);
  auto b = parse_proc_stat(kStat2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->total, 10132153ull + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195 + 0);
  EXPECT_EQ(a->idle, 46828483ull + 16683);
  auto pct = cpu_percent(*a, *b);  // 200 busy of 400 ticks
  ASSERT_TRUE(pct);
  EXPECT_DOUBLE_EQ(*pct, 50.0);
  EXPECT_FALSE(cpu_percent(*b, *b));
  EXPECT_FALSE(parse_proc_stat("intr 1 2 3\n"));
  EXPECT_FALSE(parse_proc_stat("cpu  1 x 3 4\n"));
}

TEST(ProcParsers, Meminfo) {
  constexpr const char* text =
      "MemTotal:        8000000 kB\n"
      "MemFree:          500000 kB\n"
      "MemAvailable:    2000000 kB\n"
      "Buffers:          100000 kB\n";
  auto m = parse_meminfo(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->total_bytes, 8000000ull * 1024);
  EXPECT_EQ(m->available_bytes, 2000000ull * 1024);
  EXPECT_DOUBLE_EQ(ram_percent(*m), 75.0);
  // Old kernels: MemFree + Buffers + Cached.
  auto old = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 300 kB\n");
  ASSERT_TRUE(old);
  EXPECT_DOUBLE_EQ(ram_percent(*old), 50.0);
  EXPECT_FALSE(parse_meminfo("nothing here\n"));
}

TEST(ProcParsers, PidStatWithAwkwardCommand) {
  // comm "(qemu) x)" holds a space and parentheses; fields restart after the last ')'.
  constexpr const char* text =
      "4242 ((qemu) x)) S 1 4242 4242 0 -1 4194560 24578 0 12 0 1500 250 0 0 20 0 5 0 987654 2147483648 "
      "65536 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n";
  auto s = parse_pid_stat(text);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->cpu_ticks, 1750u);
  EXPECT_EQ(s->start_ticks, 987654u);
  EXPECT_FALSE(parse_pid_stat("4242 (short) S 1 2\n"));
  EXPECT_FALSE(parse_pid_stat("garbage"));
}

TEST(ProcParsers, StatusRssAndUptime) {
  constexpr const char* status =
      "Name:\tqemu-system-x86\nVmPeak:\t 2500000 kB\nVmRSS:\t  524288 kB\nThreads:\t5\n";
  EXPECT_EQ(parse_status_rss(status), 524288ull * 1024);
  EXPECT_FALSE(parse_status_rss("Name:\tkthreadd\nThreads:\t1\n"));  // kernel threads have none
  EXPECT_DOUBLE_EQ(parse_uptime("12345.67 45678.90\n").value(), 12345.67);
  EXPECT_FALSE(parse_uptime(""));
}
