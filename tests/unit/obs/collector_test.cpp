#include "obs/collector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace vmshare::obs;
namespace fs = std::filesystem;

namespace {
// A fake /proc with the files the sampler reads.
struct FakeProc {
  fs::path root = fs::temp_directory_path() / ("vmshare-proc-" + std::to_string(::getpid()));
  FakeProc() {
    fs::create_directories(root);
    write("stat", "cpu  100 0 100 800 0 0 0 0 0 0\n");
    write("meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
    write("uptime", "1000.00 10.0\n");
  }
  ~FakeProc() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
  void pid(int pid, std::uint64_t utime, std::uint64_t rss_kb) {
    const auto d = std::to_string(pid);
    write(d + "/stat", d + " (qemu-system-x86) S 1 1 1 0 -1 0 0 0 0 0 " + std::to_string(utime) +
                           " 0 0 0 20 0 1 0 50000 0 0\n");  // started at 500 s (hz 100)
    write(d + "/status", "Name:\tqemu\nVmRSS:\t" + std::to_string(rss_kb) + " kB\n");
  }
};
}  // namespace

TEST(Collector, HostUserAndDatabaseGauges) {
  FakeProc proc;
  proc.pid(11, 5000, 2048);  // 50 s of CPU over 500 s of life: 10%
  proc.pid(22, 0, 1024);
  Registry r;
  VmshareMetrics m(r);
  std::map<std::int64_t, std::int64_t> pids{{1, 11}, {2, 22}};
  CollectorSources src;
  src.users_total = [] { return 5; };
  src.active_sessions = [] { return 2; };
  src.db_pool_in_use = []() -> std::int64_t { throw std::runtime_error("db down"); };
  src.vm_pids_by_user = [&] { return pids; };
  Collector c(m, src, std::chrono::seconds(15), proc.root.string());
  c.collect_once();
  EXPECT_EQ(m.users_total.get().value(), 5);
  EXPECT_EQ(m.active_sessions.get().value(), 2);
  EXPECT_EQ(m.db_pool_in_use.get().value(), 0);  // the failing source left it alone
  EXPECT_EQ(m.host_ram_percent.get().value(), 75);
  EXPECT_EQ(m.host_cpu_percent.size(), 0u);  // no CPU share before a second reading
  EXPECT_NEAR(m.user_cpu_percent.with({"1"}).value(), 10.0, 0.01);
  EXPECT_EQ(m.user_rss_bytes.with({"1"}).value(), 2048.0 * 1024);
  EXPECT_EQ(m.user_active_vms.with({"2"}).value(), 1);

  proc.write("stat", "cpu  200 0 200 1400 0 0 0 0 0 0\n");  // 200 busy of 800
  pids.erase(2);
  c.collect_once();
  EXPECT_EQ(m.host_cpu_percent.get().value(), 25);
  EXPECT_EQ(m.user_rss_bytes.size(), 1u);  // user 2 no longer runs a VM: series removed
  EXPECT_EQ(m.user_cpu_percent.size(), 1u);
  EXPECT_EQ(m.user_active_vms.size(), 1u);
}

TEST(Collector, ThreadStartsAndStops) {
  Registry r;
  VmshareMetrics m(r);
  CollectorSources src;
  src.users_total = [] { return 3; };
  Collector c(m, src, std::chrono::milliseconds(10));
  c.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.stop();
  EXPECT_EQ(m.users_total.get().value(), 3);
  EXPECT_GT(m.host_ram_percent.get().value(), 0);  // the real /proc/meminfo
}
