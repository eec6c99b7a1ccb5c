#include "vm/process.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <future>
#include <thread>

#include "test_util.h"
#include "vm/exit_watcher.h"
#include "vm/run_command.h"

using namespace vmshare::vm;
using namespace std::chrono_literals;

namespace {
Process spawn_argv(std::vector<std::string> argv) {
  SpawnOptions o;
  o.argv = std::move(argv);
  return Process::spawn(o);
}
}  // namespace

TEST(Process, SpawnAndExitCode) {
  auto p = spawn_argv({"sh", "-c", "exit 3"});
  EXPECT_TRUE(p.is_child());
  auto st = p.wait_for(5s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->known);
  EXPECT_EQ(st->exit_code, 3);
  EXPECT_EQ(st->describe(), "exit code 3");
  EXPECT_FALSE(p.signal(SIGTERM));  // exited and reaped: nobody to signal, and no stray kill
}

TEST(Process, SignalExactKillsIt) {
  auto p = spawn_argv({"sleep", "30"});
  EXPECT_FALSE(p.try_wait());
  EXPECT_TRUE(p.signal(SIGTERM));
  auto st = p.wait_for(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->term_signal, SIGTERM);
  EXPECT_EQ(st->exit_code, -1);
}

TEST(Process, WaitForTimesOut) {
  auto p = spawn_argv({"sleep", "30"});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.wait_for(200ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 190ms);
  p.signal(SIGKILL);
  ASSERT_TRUE(p.wait_for(5s));
}

TEST(Process, NewProcessGroupAndLogFile) {
  test::TempDir dir;
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo out; echo err >&2; ls /proc/self/fd"};
  o.log_path = dir / "log.txt";
  auto p = Process::spawn(o);
  EXPECT_EQ(::getpgid(p.pid()), p.pid());
  ASSERT_TRUE(p.wait_for(5s));
  std::string log = test::read_file(o.log_path);
  EXPECT_NE(log.find("out\n"), std::string::npos);
  EXPECT_NE(log.find("err\n"), std::string::npos);
  // Only 0,1,2 and ls's own directory fd: nothing of ours leaked into the child.
  EXPECT_EQ(log.find("\n4\n"), std::string::npos) << log;
}

TEST(Process, SpawnFailureThrows) {
  EXPECT_THROW(spawn_argv({"/nonexistent/binary"}), ProcessError);
  EXPECT_THROW(spawn_argv({}), ProcessError);
}

TEST(Process, AdoptNonChild) {
  // A grandchild, orphaned when sh exits: not our child, like a VM found after a restart.
  auto r = run_command({"sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"});
  pid_t pid = std::stoi(r.out);
  auto p = Process::adopt(pid);
  EXPECT_FALSE(p.is_child());
  EXPECT_FALSE(p.try_wait());
  EXPECT_TRUE(p.signal(SIGKILL));
  auto st = p.wait_for(5s);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->known);
  EXPECT_THROW(Process::adopt(999999999), ProcessError);
}

class ExitWatcherTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::thread runner{[this] { io.run(); }};
  ~ExitWatcherTest() override {
    guard.reset();
    io.stop();
    runner.join();
  }
};

TEST_F(ExitWatcherTest, ReportsExitOfChild) {
  ExitWatcher w(io.get_executor(), spawn_argv({"sh", "-c", "sleep 0.2; exit 7"}));
  std::promise<std::pair<boost::system::error_code, ExitStatus>> done;
  w.async_wait([&](auto ec, const ExitStatus& st) { done.set_value({ec, st}); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  auto [ec, st] = f.get();
  EXPECT_FALSE(ec);
  EXPECT_TRUE(st.known);
  EXPECT_EQ(st.exit_code, 7);
  // Reaped: no zombie left.
  EXPECT_EQ(::waitpid(w.process().pid(), nullptr, WNOHANG), -1);
}

TEST_F(ExitWatcherTest, ReportsKill) {
  ExitWatcher w(io.get_executor(), spawn_argv({"sleep", "30"}));
  std::promise<ExitStatus> done;
  w.async_wait([&](auto ec, const ExitStatus& st) { done.set_value(st); });
  EXPECT_TRUE(w.process().signal(SIGKILL));
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get().term_signal, SIGKILL);
}

TEST_F(ExitWatcherTest, CancelAborts) {
  ExitWatcher w(io.get_executor(), spawn_argv({"sleep", "30"}));
  std::promise<boost::system::error_code> done;
  w.async_wait([&](auto ec, const ExitStatus&) { done.set_value(ec); });
  w.cancel();
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), boost::asio::error::operation_aborted);
  w.process().signal(SIGKILL);
  EXPECT_TRUE(w.process().wait_for(5s));
}

TEST_F(ExitWatcherTest, WatchesAdoptedProcess) {
  auto r = run_command({"sh", "-c", "sleep 0.3 >/dev/null 2>&1 & echo $!"});
  ExitWatcher w(io.get_executor(), Process::adopt(std::stoi(r.out)));
  std::promise<ExitStatus> done;
  w.async_wait([&](auto ec, const ExitStatus& st) { done.set_value(st); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(f.get().known);
}

TEST(RunCommand, CollectsOutputAndExitCode) {
  auto r = run_command({"sh", "-c", "echo hello; echo oops >&2; exit 2"});
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(run_command({"true"}).ok());
}

TEST(RunCommand, KillsOnTimeout) {
  RunOptions o;
  o.timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_command({"sleep", "30"}, o);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_FALSE(r.ok());
}

TEST(RunCommand, TimeoutOverload) {
  auto r = run_command({"sleep", "30"}, 200ms);
  EXPECT_TRUE(r.timed_out);
}

TEST(RunCommand, CapsOutput) {
  RunOptions o;
  o.max_output = 1000;
  auto r = run_command({"sh", "-c", "head -c 100000 /dev/zero"}, o);
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.ok());
}

TEST(RunCommand, PassesOneDescriptorAsThreeAndTheWorkingDirectory) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ASSERT_EQ(::write(p[1], "passed", 6), 6);
  ::close(p[1]);
  RunOptions o;
  o.pass_fd = p[0];
  o.cwd = "/";
  // fd 3 is the pipe; nothing else above stdio is open; the cwd is "/".
  auto r = run_command({"sh", "-c", "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '; pwd"}, o);
  ::close(p[0]);
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, "passed0 1 2 3 4 /\n");  // 4: ls's own directory handle on /proc/self/fd
}

TEST(RunCommand, MissingBinaryThrows) {
  EXPECT_THROW(run_command({"/nonexistent/tool"}), ProcessError);
}
