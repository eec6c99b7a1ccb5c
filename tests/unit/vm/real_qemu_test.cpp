// Tests against the real qemu-system-x86_64 (TCG, a small empty disk): they prove that the
// argv from build_qemu_argv is accepted by this QEMU, that it works from descriptors alone
// (monitor listener, disks, ISO; consoles, screendumps and backup targets over QMP), and that
// the QMP layers speak to it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <thread>

#include "test_util.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "vm/disk_backup.h"
#include "vm/host_files.h"
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

  // Starts QEMU from build_qemu_argv the way vmshare does: every file and the monitor's
  // listening socket passed as descriptors; QEMU gets no path of ours.
  void launch(const std::string& iso_path = {}) {
    QemuSpec s;
    s.vmid = "test-vm";
    s.accel = "tcg";
    s.memory_mb = 128;
    s.cpus = 1;
    s.has_base = true;
    s.has_iso = !iso_path.empty();
    auto listener = listen_unix(dir / "qmp.sock");
    auto disk = open_regular(dir / "disk.qcow2", true);
    auto base = open_regular(dir / "base.qcow2", false);
    UniqueFd iso;
    if (!iso_path.empty()) iso = open_regular(iso_path, false);
    SpawnOptions o;
    o.argv = build_qemu_argv(s);
    o.log_path = dir / "qemu.log";
    o.pass_fds = {{listener.get(), kQmpFd}, {disk.get(), kDiskFd}, {base.get(), kBaseFd}};
    if (iso) o.pass_fds.push_back({iso.get(), kIsoFd});
    qemu = Process::spawn(o);
  }

  std::string monitor() { return dir / "qmp.sock"; }

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
  ::setenv("VMSHARE_TEST_SECRET", "must-not-reach-qemu", 1);
  ASSERT_NO_FATAL_FAILURE(launch());
  ::unsetenv("VMSHARE_TEST_SECRET");
  {
    // The first connection may be queued before QEMU runs: the kernel then still names the
    // process that listen()ed first (us). Once QEMU listen()ed on the socket it inherited, as
    // it has when it greets, a new connection's peer is QEMU: what adoption after a restart sees.
    QmpConnection first(io.get_executor());
    first.connect_sync(monitor());
    first.close();
  }
  std::this_thread::sleep_for(200ms);  // QEMU notices the close and accepts again
  QmpConnection q(io.get_executor());
  q.connect_sync(monitor());
  EXPECT_EQ(q.greeting()["version"]["qemu"]["major"], 7);
  EXPECT_EQ(q.peer().pid, qemu.pid());
  // Its environment is the allowlist, not ours.
  std::string env = test::read_file("/proc/" + std::to_string(qemu.pid()) + "/environ");
  EXPECT_EQ(env.find("VMSHARE_TEST_SECRET"), std::string::npos);
  EXPECT_NE(env.find("PATH="), std::string::npos);
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
  q.connect_sync(monitor());
  QmpCommands cmds(q);
  auto st = cmds.query_status();
  EXPECT_EQ(st.status, "running");

  // Into memory through a write-only descriptor in an fd set, as vmshare takes screenshots.
  UniqueFd image(::memfd_create("shot", MFD_CLOEXEC));
  UniqueFd writer(::open(("/proc/self/fd/" + std::to_string(image.get())).c_str(), O_WRONLY | O_CLOEXEC));
  auto set = cmds.add_fd(writer.get(), "screendump");
  cmds.screendump(fdset_path(static_cast<int>(set)));
  cmds.remove_fd(set);
  std::string png = read_capped(image.get(), 1 << 20);
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

TEST_F(RealQemu, ConsoleOverAPassedSocketpair) {
  ASSERT_NO_FATAL_FAILURE(launch());
  QmpConnection q(io.get_executor());
  q.connect_sync(monitor());
  QmpCommands cmds(q);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd ours(pair[0]), theirs(pair[1]);
  cmds.getfd(theirs.get(), "viewer-1");
  theirs.reset();
  cmds.add_vnc_client("viewer-1");
  char greeting[12];
  ASSERT_EQ(::recv(ours.get(), greeting, sizeof(greeting), MSG_WAITALL), 12);
  EXPECT_EQ(std::string(greeting, 12), "RFB 003.008\n");
  EXPECT_THROW(cmds.add_vnc_client("viewer-1"), QmpError);  // taken once
}

TEST_F(RealQemu, FullBackupIsStandaloneQcow2) {
  ASSERT_NO_FATAL_FAILURE(launch());
  QmpConnection q(io.get_executor());
  q.connect_sync(monitor());
  QmpCommands cmds(q);
  // The running VM writes to its overlay: HMP's qemu-io on the virtio device's own backend
  // (the device does not share write access to the node) stands in for a guest.
  auto hmp = q.execute_sync("human-monitor-command",
                            {{"command-line", "qemu-io -d /machine/peripheral/disk0-dev/virtio-backend \"write -P 0xbb 1M 64k\""}});
  EXPECT_EQ(hmp, "") << hmp;  // qemu-io prints its report on QEMU's stdout; errors come here
  std::optional<std::int64_t> set;
  BackupOptions by_fd;
  by_fd.expose_target = [&](const std::string& path) {
    auto fd = open_regular(path, true);
    set = cmds.add_fd(fd.get(), "snapshot");
    return fdset_path(static_cast<int>(*set));
  };
  by_fd.release_target = [&] { cmds.remove_fd(*set); };
  backup_disk(cmds, images, dir / "snap.qcow2", by_fd);
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
  q.connect_sync(monitor());
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
