// Tests against the real qemu-system-x86_64 (TCG, a small empty disk): they prove that the
// argv from build_qemu_argv is accepted by this QEMU and that the QMP layers speak to it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <thread>

#include "test_util.h"
#include "vm/disk_backup.h"
#include "vm/image_tool.h"
#include "vm/process.h"
#include "vm/qemu_command.h"
#include "vm/qmp_commands.h"
#include "vm/qmp_connection.h"
#include "vm/run_command.h"

using namespace vmshare::vm;
using namespace std::chrono_literals;

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

class RealQemu : public ::testing::Test {
 protected:
  test::TempDir dir;
  ImageTool images;
  Process qemu;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::thread runner{[this] { io.run(); }};

  void SetUp() override {
    images.create_blank(dir / "base.qcow2", 16 << 20);
    // A known pattern in the base, to check that a snapshot folds the backing chain in.
    ASSERT_TRUE(run_command({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0xaa 0 64k", dir / "base.qcow2"}).ok());
    images.create_overlay(dir / "base.qcow2", dir / "disk.qcow2");
  }

  // Starts QEMU from build_qemu_argv and waits for both sockets.
  void launch(const std::string& iso_path = {}) {
    QemuSpec s;
    s.vmid = "test-vm";
    s.accel = "tcg";
    s.memory_mb = 128;
    s.cpus = 1;
    s.disk_path = dir / "disk.qcow2";
    s.iso_path = iso_path;
    s.run_dir = dir.path();
    SpawnOptions o;
    o.argv = build_qemu_argv(s);
    o.log_path = dir / "qemu.log";
    qemu = Process::spawn(o);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    // QMP's socket is made before VNC's; wait for both.
    while (!(exists(qmp_socket_path(dir.path())) && exists(vnc_socket_path(dir.path()))) &&
           std::chrono::steady_clock::now() < deadline) {
      ASSERT_FALSE(qemu.try_wait()) << "QEMU exited: " << test::read_file(dir / "qemu.log");
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(exists(qmp_socket_path(dir.path()))) << test::read_file(dir / "qemu.log");
  }

  ~RealQemu() override {
    if (qemu.valid() && !qemu.try_wait()) {
      qemu.signal(SIGKILL);
      qemu.wait_for(5s);
    }
    guard.reset();
    io.stop();
    runner.join();
  }
};

}  // namespace

TEST_F(RealQemu, StartsWithOurFlagsAndAnswersQmp) {
  ASSERT_NO_FATAL_FAILURE(launch());
  EXPECT_TRUE(exists(vnc_socket_path(dir.path())));
  QmpConnection q(io.get_executor());
  q.connect_sync(qmp_socket_path(dir.path()));
  EXPECT_EQ(q.greeting()["version"]["qemu"]["major"], 7);
  std::this_thread::sleep_for(2s);  // still alive after two seconds: the sandbox let it run
  EXPECT_FALSE(qemu.try_wait()) << test::read_file(dir / "qemu.log");
  QmpCommands cmds(q);
  EXPECT_TRUE(cmds.query_status().running);
}

TEST_F(RealQemu, StatusScreendumpQuit) {
  ASSERT_NO_FATAL_FAILURE(launch());
  QmpConnection q(io.get_executor());
  std::mutex mu;
  std::vector<std::string> events;
  q.on_event([&](const std::string& name, const nlohmann::json&) {
    std::lock_guard lk(mu);
    events.push_back(name);
  });
  q.connect_sync(qmp_socket_path(dir.path()));
  QmpCommands cmds(q);
  auto st = cmds.query_status();
  EXPECT_EQ(st.status, "running");

  cmds.screendump(dir / "screen.png");
  std::string png = test::read_file(dir / "screen.png");
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  try {
    cmds.cont();  // already running: QEMU accepts it; stop + cont round trip
    cmds.stop();
    EXPECT_EQ(cmds.query_status().status, "paused");
    cmds.cont();
  } catch (const QmpError& e) {
    FAIL() << e.error_class() << ": " << e.desc();
  }
  // An error from QEMU itself: class and desc come through.
  try {
    q.execute_sync("no-such-command");
    FAIL();
  } catch (const QmpError& e) {
    EXPECT_EQ(e.error_class(), "CommandNotFound");
    EXPECT_FALSE(e.desc().empty());
  }

  cmds.quit();
  auto ex = qemu.wait_for(10s);
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->exit_code, 0);
  std::lock_guard lk(mu);
  EXPECT_NE(std::find(events.begin(), events.end(), "STOP"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "RESUME"), events.end());
}

TEST_F(RealQemu, FullBackupIsStandaloneQcow2) {
  ASSERT_NO_FATAL_FAILURE(launch());
  QmpConnection q(io.get_executor());
  q.connect_sync(qmp_socket_path(dir.path()));
  QmpCommands cmds(q);
  // The running VM writes to its overlay: HMP's qemu-io on the virtio device's own backend
  // (the device does not share write access to the node) stands in for a guest.
  auto hmp = q.execute_sync("human-monitor-command",
                            {{"command-line", "qemu-io -d /machine/peripheral/disk0-dev/virtio-backend \"write -P 0xbb 1M 64k\""}});
  EXPECT_EQ(hmp, "") << hmp;  // qemu-io prints its report on QEMU's stdout; errors come here
  backup_disk(cmds, images, dir / "snap.qcow2");
  auto verify = [&](const std::string& pattern, const std::string& offset) {
    return run_command({"qemu-io", "-f", "qcow2", "-c",
                        "read -q -P " + pattern + " " + offset + " 64k", dir / "snap.qcow2"})
        .ok();
  };
  EXPECT_TRUE(verify("0xaa", "0"));    // from the base image
  EXPECT_TRUE(verify("0xbb", "1M"));   // from the overlay, written while running
  EXPECT_FALSE(verify("0xbb", "0"));   // the check can fail
  auto info = images.image_info(dir / "snap.qcow2", "qcow2");
  EXPECT_EQ(info.format, "qcow2");
  EXPECT_EQ(info.virtual_size, 16u << 20);
  EXPECT_FALSE(info.references_other_files());
  EXPECT_TRUE(cmds.query_jobs().empty());  // dismissed
  EXPECT_TRUE(cmds.query_status().running);  // the VM kept running
  // A second backup to an existing file is refused without touching it.
  EXPECT_THROW(backup_disk(cmds, images, dir / "snap.qcow2"), ImageError);
  EXPECT_TRUE(exists(dir / "snap.qcow2"));
  // A failing backup (bad node) leaves no file behind.
  BackupOptions bad;
  bad.device_node = "nope";
  EXPECT_THROW(backup_disk(cmds, images, dir / "snap2.qcow2", bad), QmpError);
  EXPECT_FALSE(exists(dir / "snap2.qcow2"));
}

TEST_F(RealQemu, IsoAttachedReadOnlyRaw) {
  test::write_file(dir / "user.iso", std::string(1 << 20, '\0'));
  ASSERT_NO_FATAL_FAILURE(launch(dir / "user.iso"));
  QmpConnection q(io.get_executor());
  q.connect_sync(qmp_socket_path(dir.path()));
  bool found = false;
  for (const auto& n : q.execute_sync("query-named-block-nodes", {{"flat", true}})) {
    if (n["node-name"] != kCdromNodeName) continue;
    found = true;
    EXPECT_EQ(n["drv"], "raw");
    EXPECT_EQ(n["ro"], true);
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(QmpCommands(q).query_status().running);
}
