// The VM manager (the supervisor: registry, limits, launch phases, the state machine's actions,
// adoption) against bench/fake_rfb_qemu, which speaks QEMU's descriptor protocol (monitor
// listener as fd 3, getfd + add_client, add-fd) in milliseconds. Real QEMU: tests/e2e.
#include "vm/vm_manager.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "store/memory_session_store.h"
#include "test_util.h"
#include "vm/errors.h"
#include "vm/confinement.h"
#include "vm/image_tool.h"
#include "vm/process.h"

using namespace vmshare;
using namespace vmshare::vm;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class VmManagerTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  store::MemorySessionStore sessions;
  boost::asio::io_context workers;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{workers.get_executor()};
  std::thread w1{[this] { workers.run(); }}, w2{[this] { workers.run(); }};
  Catalog catalog;

  VmManagerTest() {
    ImageTool().create_blank(dir / "base.qcow2", 16 << 20);
    Profile p;
    p.name = "fake";
    p.base_image = dir / "base.qcow2";
    p.memory_mb = 64;
    p.cpus = 1;
    catalog = Catalog({p});
  }
  ~VmManagerTest() override {
    guard.reset();
    workers.stop();
    w1.join();
    w2.join();
  }

  Config config(const std::string& qemu = VMSHARE_BINARY_DIR "/bench/fake_rfb_qemu") {
    Config c;
    c.data_dir = dir / "data";
    c.qemu = qemu;
    c.accel = "tcg";
    c.confine = "off";  // confinement has its own e2e test with real QEMU
    c.cgroups = false;
    c.max_vms = 2;
    c.disconnect_grace_s = 600;
    c.stop_timeout_s = 2;
    fs::create_directories(c.data_dir);
    return c;
  }
  std::unique_ptr<VmManager> manager(const Config& c) {
    auto m = std::make_unique<VmManager>(c, catalog, sessions, workers.get_executor());
    m->reconcile();
    return m;
  }
  static std::string rfb_greeting(int fd) {
    char buf[12];
    return ::recv(fd, buf, sizeof(buf), MSG_WAITALL) == 12 ? std::string(buf, 12) : "";
  }
  template <class F>
  static bool eventually(F&& f, std::chrono::milliseconds limit = 10s) {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(50ms))
      if (f()) return true;
    return false;
  }
};

}  // namespace

TEST_F(VmManagerTest, LaunchConsoleScreenshotStop) {
  const auto c = config();
  auto m = manager(c);
  auto r = m->launch({7, "fake", "", "", ""});
  ASSERT_TRUE(r.created);
  EXPECT_EQ(r.vm.status, "running");
  EXPECT_FALSE(m->launch({7, "fake", "", "", ""}).created) << "one VM per user";
  ASSERT_TRUE(sessions.get_vm(r.vm.vmid));
  auto console = m->open_console(r.vm.vmid);
  EXPECT_EQ(rfb_greeting(console.get()), "RFB 003.008\n");
  const auto png = m->screenshot_png(r.vm.vmid);
  EXPECT_EQ(png.substr(0, 4), "\x89PNG");
  m->stop(r.vm.vmid);
  EXPECT_FALSE(m->find(r.vm.vmid));
  EXPECT_FALSE(sessions.get_vm(r.vm.vmid));
  EXPECT_FALSE(fs::exists(c.data_dir + "/vms/" + r.vm.vmid));
  EXPECT_EQ(m->exit_counts()["stopped"], 1);
  EXPECT_THROW(m->stop(r.vm.vmid), VmNotFound);
}

TEST_F(VmManagerTest, HostLimitAndUnknownProfile) {
  auto m = manager(config());
  m->launch({1, "fake", "", "", ""});
  m->launch({2, "fake", "", "", ""});
  EXPECT_THROW(m->launch({3, "fake", "", "", ""}), VmLimitReached);
  EXPECT_THROW(m->launch({4, "nope", "", "", ""}), UnknownProfile);
  for (const auto& v : m->list()) m->terminate(v.vmid, ExitReason::logout);
  EXPECT_TRUE(m->list().empty());
}

// A QEMU that cannot start leaves nothing: no VM, no session, no folder.
TEST_F(VmManagerTest, FailedLaunchLeavesNothing) {
  const auto c = config("/bin/false");
  auto m = manager(c);
  EXPECT_THROW(m->launch({7, "fake", "", "", ""}), LaunchFailed);
  EXPECT_TRUE(m->list().empty());
  EXPECT_TRUE(sessions.list_active().empty());
  EXPECT_TRUE(fs::is_empty(c.data_dir + "/vms"));
  EXPECT_TRUE(m->exit_counts().empty()) << "a failed launch is no exit";
}

TEST_F(VmManagerTest, NoViewerForTheGraceEndsTheVm) {
  auto c = config();
  c.disconnect_grace_s = 1;
  auto m = manager(c);
  auto r = m->launch({7, "fake", "", "", ""});
  const auto viewer = m->attach_viewer(r.vm.vmid, [](const std::string&) {});
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(m->find(r.vm.vmid)) << "a viewer keeps it";
  m->detach_viewer(r.vm.vmid, viewer);
  EXPECT_TRUE(eventually([&] { return m->exit_counts()["no_viewer"] == 1; }));
  EXPECT_FALSE(m->find(r.vm.vmid));
}

TEST_F(VmManagerTest, LostMonitorIsReopenedOrTheVmEnds) {
  auto m = manager(config());
  auto r = m->launch({7, "fake", "", "", ""});
  const pid_t pid = static_cast<pid_t>(sessions.get_vm(r.vm.vmid)->pid);
  ::kill(pid, SIGUSR1);  // the fake cuts its monitor connection and runs on
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(eventually([&] {
    try {
      return !m->screenshot_png(r.vm.vmid).empty();
    } catch (const std::exception&) {
      return false;
    }
  }));
  ::kill(pid, SIGUSR2);  // cut, and no new monitor connection accepted
  EXPECT_TRUE(eventually([&] { return m->exit_counts()["killed"] == 1; }, 15s));
  EXPECT_FALSE(m->find(r.vm.vmid));
}

// A restarted manager adopts what runs; its console and stop work as before.
TEST_F(VmManagerTest, AdoptsAfterARestart) {
  const auto c = config();
  std::string vmid;
  {
    auto first = manager(c);
    vmid = first->launch({7, "fake", "", "", ""}).vm.vmid;
    first->detach_all();
  }
  auto second = manager(c);
  ASSERT_TRUE(second->find(vmid));
  EXPECT_EQ(second->vm_of_user(7)->vmid, vmid);
  auto console = second->open_console(vmid);
  EXPECT_EQ(rfb_greeting(console.get()), "RFB 003.008\n");
  second->stop(vmid);
  EXPECT_FALSE(second->find(vmid));
}

// A folder of the older layout (handed to its VM's uid, no record vmshare can trust) whose QEMU
// still runs: at start-up that uid's processes are ended and the folder removed; a process of a
// uid outside the VMs' range is left alone.
TEST_F(VmManagerTest, LeftoversOfTheOldLayoutAreEnded) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: processes of other uids";
  const auto c = config();
  const uid_t vm_uid = c.vm_uid_base + 5;
  const std::string old = c.data_dir + "/vms/OldLayoutVm00001";
  fs::create_directories(old);
  ASSERT_EQ(::chown(old.c_str(), vm_uid, vm_uid), 0);
  auto orphan = Process::spawn({drop_privileges_argv({vm_uid, vm_uid, {}}, {"sleep", "60"}), "", true});
  auto bystander = Process::spawn({drop_privileges_argv({c.vm_uid_base - 7, c.vm_uid_base - 7, {}}, {"sleep", "60"}), "", true});
  std::this_thread::sleep_for(200ms);
  auto m = manager(c);
  EXPECT_TRUE(orphan.wait_for(5s)) << "the old VM's process was ended";
  EXPECT_FALSE(fs::exists(old));
  EXPECT_FALSE(bystander.try_wait()) << "a uid below the VMs' range is not touched";
  bystander.signal(SIGKILL);
  bystander.wait_for(5s);
}
