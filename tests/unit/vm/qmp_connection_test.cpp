#include "vm/qmp_connection.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <thread>

#include "fake_qmp_server.h"
#include "test_util.h"
#include "vm/qmp_commands.h"

using namespace vmshare::vm;
using namespace std::chrono_literals;
using json = nlohmann::json;
using Fake = test::FakeQmpServer;
using Kind = QmpStatus::Kind;

namespace {

class QmpTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::string sock = dir / "qmp.sock";
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::thread runner{[this] { io.run(); }};

  ~QmpTest() override {
    guard.reset();
    io.stop();
    runner.join();
  }

  std::unique_ptr<QmpConnection> make(QmpOptions o = {}) {
    return std::make_unique<QmpConnection>(io.get_executor(), o);
  }

  static QmpStatus::Kind kind_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const QmpError& e) {
      return e.status.kind;
    }
    return Kind::ok;
  }
};

// Replies to every command with {"echo": <command name>, "args": <arguments>}.
void echo(Fake::Conn& c, const json& cmd) {
  c.reply(cmd, {{"echo", cmd["execute"]}, {"args", cmd.value("arguments", json::object())}});
}

}  // namespace

TEST_F(QmpTest, ConnectNegotiatesAndExecutes) {
  Fake server(sock, echo);
  auto q = make();
  q->connect_sync(sock);
  EXPECT_EQ(q->greeting()["version"]["qemu"]["major"], 7);
  auto r = q->execute_sync("query-status");
  EXPECT_EQ(r["echo"], "query-status");
  r = q->execute_sync("screendump", {{"filename", "/x.png"}});
  EXPECT_EQ(r["args"]["filename"], "/x.png");
  auto got = server.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]["execute"], "qmp_capabilities");
  EXPECT_FALSE(got[1].contains("arguments"));  // no empty "arguments"
  EXPECT_TRUE(got[1].contains("id"));
}

TEST_F(QmpTest, CommandErrorCarriesClassAndDescAndIsNotSticky) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) {
    if (cmd["execute"] == "cont")
      c.error(cmd, "DeviceNotActive", "guest is not paused");
    else
      echo(c, cmd);
  });
  auto q = make();
  q->connect_sync(sock);
  try {
    q->execute_sync("cont");
    FAIL();
  } catch (const QmpError& e) {
    EXPECT_EQ(e.status.kind, Kind::command_error);
    EXPECT_EQ(e.error_class(), "DeviceNotActive");
    EXPECT_EQ(e.desc(), "guest is not paused");
    EXPECT_STREQ(e.what(), "guest is not paused");
    EXPECT_FALSE(e.status.sticky());
  }
  EXPECT_EQ(q->execute_sync("stop")["echo"], "stop");
}

TEST_F(QmpTest, OneCommandInFlightInOrder) {
  std::atomic<bool> overlapped{false};
  Fake server(sock, [&](Fake::Conn& c, const json& cmd) {
    // Before answering, make sure the client has not sent the next command already.
    if (c.readable_within(50)) overlapped = true;
    echo(c, cmd);
  });
  auto q = make();
  std::vector<std::string> order;
  std::mutex mu;
  std::promise<void> all;
  const int n = 6;
  // Queued before the connection is even up: they must wait for negotiation.
  for (int i = 0; i < n; ++i) {
    q->async_execute("cmd" + std::to_string(i), {{"i", i}}, [&, i](const QmpStatus& st, const json& r) {
      std::lock_guard lk(mu);
      EXPECT_TRUE(st.ok());
      EXPECT_EQ(r["args"]["i"], i);
      order.push_back(r["echo"]);
      if (static_cast<int>(order.size()) == n) all.set_value();
    });
  }
  std::promise<QmpStatus> connected;
  q->async_connect(sock, [&](const QmpStatus& st) { connected.set_value(st); });
  EXPECT_TRUE(connected.get_future().get().ok());
  ASSERT_EQ(all.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(order, (std::vector<std::string>{"cmd0", "cmd1", "cmd2", "cmd3", "cmd4", "cmd5"}));
  auto names = server.received_names();
  EXPECT_EQ(names.front(), "qmp_capabilities");
  EXPECT_EQ(names.size(), 7u);
}

TEST_F(QmpTest, EventsAreDelivered) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) {
    c.event("STOP");
    c.event("SHUTDOWN", {{"guest", true}, {"reason", "guest-shutdown"}});
    echo(c, cmd);
  });
  auto q = make();
  std::mutex mu;
  std::vector<std::pair<std::string, json>> events;
  q->on_event([&](const std::string& name, const json& data) {
    std::lock_guard lk(mu);
    events.emplace_back(name, data);
  });
  q->connect_sync(sock);
  q->execute_sync("system_powerdown");
  std::lock_guard lk(mu);
  ASSERT_EQ(events.size(), 2u);  // events before the reply are handled before it
  EXPECT_EQ(events[0].first, "STOP");
  EXPECT_TRUE(events[0].second.is_object() && events[0].second.empty());
  EXPECT_EQ(events[1].first, "SHUTDOWN");
  EXPECT_EQ(events[1].second["reason"], "guest-shutdown");
}

TEST_F(QmpTest, TimeoutIsSticky) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) {
    if (cmd["execute"] != "hang") echo(c, cmd);  // "hang": say nothing
  });
  QmpOptions o;
  o.command_timeout = 300ms;
  auto q = make(o);
  q->connect_sync(sock);
  EXPECT_EQ(q->execute_sync("query-status")["echo"], "query-status");

  std::promise<QmpStatus> second;
  q->async_execute("hang", {}, [](const QmpStatus&, const json&) {});
  q->async_execute("query-status", {}, [&](const QmpStatus& st, const json&) { second.set_value(st); });
  auto t0 = std::chrono::steady_clock::now();
  try {
    q->execute_sync("hang2");
    FAIL();
  } catch (const QmpError& e) {
    EXPECT_EQ(e.status.kind, Kind::timeout);
    EXPECT_TRUE(e.status.sticky());
    EXPECT_NE(std::string(e.what()).find("hang"), std::string::npos);  // names the stuck command
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(second.get_future().get().kind, Kind::timeout);  // queued behind it
  EXPECT_EQ(kind_of([&] { q->execute_sync("query-status"); }), Kind::timeout);  // and later ones
  // The queued commands were never sent: only one was in flight.
  EXPECT_EQ(server.received_names().back(), "hang");
}

TEST_F(QmpTest, CloseMidCommandIsSticky) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) {
    if (cmd["execute"] == "quit")
      c.close();  // like QEMU exiting before it answers
    else
      echo(c, cmd);
  });
  auto q = make();
  std::promise<QmpStatus> closed;
  std::atomic<int> close_calls{0};
  q->on_close([&](const QmpStatus& st) {
    if (close_calls++ == 0) closed.set_value(st);
  });
  q->connect_sync(sock);
  std::promise<QmpStatus> queued;
  q->async_execute("quit", {}, [](const QmpStatus&, const json&) {});
  q->async_execute("query-status", {}, [&](const QmpStatus& st, const json&) { queued.set_value(st); });
  EXPECT_EQ(queued.get_future().get().kind, Kind::disconnected);
  EXPECT_EQ(kind_of([&] { q->execute_sync("query-status"); }), Kind::disconnected);
  EXPECT_EQ(closed.get_future().get().kind, Kind::disconnected);
  q->close();  // already failed: the first error stays
  EXPECT_EQ(kind_of([&] { q->execute_sync("x"); }), Kind::disconnected);
  EXPECT_EQ(close_calls.load(), 1);
}

TEST_F(QmpTest, OversizedLineIsProtocolError) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) { c.reply(cmd, std::string(10000, 'x')); });
  QmpOptions o;
  o.max_line = 1024;
  auto q = make(o);
  q->connect_sync(sock);
  EXPECT_EQ(kind_of([&] { q->execute_sync("big"); }), Kind::protocol_error);
  EXPECT_EQ(kind_of([&] { q->execute_sync("next"); }), Kind::protocol_error);
}

TEST_F(QmpTest, MalformedJsonIsProtocolError) {
  Fake server(sock, [](Fake::Conn& c, const json&) { c.send_raw("{not json\n"); });
  auto q = make();
  q->connect_sync(sock);
  EXPECT_EQ(kind_of([&] { q->execute_sync("x"); }), Kind::protocol_error);
}

// Found by fuzz/fuzz_qmp_reader: a malformed "error" threw out of the I/O loop (terminate).
TEST_F(QmpTest, MalformedErrorReplyIsACommandError) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) {
    if (cmd["execute"] == "a") c.send(json{{"error", 5}, {"id", cmd["id"]}});
    else if (cmd["execute"] == "b") c.send(json{{"error", {{"class", 7}, {"desc", json::array()}}}, {"id", cmd["id"]}});
    else echo(c, cmd);
  });
  auto q = make();
  q->connect_sync(sock);
  EXPECT_EQ(kind_of([&] { q->execute_sync("a"); }), Kind::command_error);
  try {
    q->execute_sync("b");
    FAIL();
  } catch (const QmpError& e) {
    EXPECT_EQ(e.error_class(), "GenericError");
    EXPECT_EQ(e.desc(), "the VM monitor refused the command");
  }
  EXPECT_EQ(q->execute_sync("c")["echo"], "c");
}

TEST_F(QmpTest, MismatchedReplyIdIsProtocolError) {
  Fake server(sock, [](Fake::Conn& c, const json&) { c.send(json{{"return", {}}, {"id", 999}}); });
  auto q = make();
  q->connect_sync(sock);
  EXPECT_EQ(kind_of([&] { q->execute_sync("x"); }), Kind::protocol_error);
}

TEST_F(QmpTest, MissingGreetingTimesOut) {
  Fake::Options fo;
  fo.greet = false;
  Fake server(sock, echo, fo);
  QmpOptions o;
  o.connect_timeout = 300ms;
  auto q = make(o);
  EXPECT_EQ(kind_of([&] { q->connect_sync(sock); }), Kind::timeout);
}

TEST_F(QmpTest, WrongGreetingIsProtocolError) {
  Fake::Options fo;
  fo.greeting_override = "{\"hello\":1}\n";
  Fake server(sock, echo, fo);
  auto q = make();
  EXPECT_EQ(kind_of([&] { q->connect_sync(sock); }), Kind::protocol_error);
}

TEST_F(QmpTest, ConnectToMissingSocketFails) {
  auto q = make();
  EXPECT_EQ(kind_of([&] { q->connect_sync(dir / "nope.sock"); }), Kind::disconnected);
  EXPECT_EQ(kind_of([&] { q->execute_sync("x"); }), Kind::disconnected);
}

TEST_F(QmpTest, CloseFailsPendingWithClosed) {
  Fake server(sock, [](Fake::Conn&, const json&) {});  // never answers
  auto q = make();
  q->connect_sync(sock);
  std::promise<QmpStatus> pending;
  q->async_execute("x", {}, [&](const QmpStatus& st, const json&) { pending.set_value(st); });
  q->close();
  EXPECT_EQ(pending.get_future().get().kind, Kind::closed);
}

TEST_F(QmpTest, SyncCallFromHandlerIsRefused) {
  Fake server(sock, echo);
  auto q = make();
  q->connect_sync(sock);
  std::promise<bool> refused;
  q->async_execute("x", {}, [&](const QmpStatus&, const json&) {
    try {
      q->execute_sync("y");
      refused.set_value(false);
    } catch (const std::logic_error&) {
      refused.set_value(true);
    }
  });
  EXPECT_TRUE(refused.get_future().get());
}

TEST_F(QmpTest, DroppingTheConnectionFailsPending) {
  Fake server(sock, [](Fake::Conn&, const json&) {});
  std::promise<QmpStatus> pending;
  {
    auto q = make();
    q->connect_sync(sock);
    q->async_execute("x", {}, [&](const QmpStatus& st, const json&) { pending.set_value(st); });
  }
  EXPECT_EQ(pending.get_future().get().kind, Kind::closed);
}

// --- typed commands, against the fake server ---

TEST_F(QmpTest, TypedCommandsSendTheRightJson) {
  Fake server(sock, [](Fake::Conn& c, const json& cmd) {
    std::string n = cmd["execute"];
    if (n == "query-status")
      c.reply(cmd, {{"status", "paused"}, {"running", false}, {"singlestep", false}});
    else if (n == "query-jobs")
      c.reply(cmd, json::array({{{"id", "j1"}, {"type", "backup"}, {"status", "concluded"},
                                 {"current-progress", 10}, {"total-progress", 10}, {"error", "EIO"}}}));
    else if (n == "query-block-jobs")
      c.reply(cmd, json::array({{{"device", "j1"}, {"type", "backup"}, {"status", "running"},
                                 {"offset", 5}, {"len", 10}, {"ready", false}}}));
    else if (n == "query-named-block-nodes")
      c.reply(cmd, json::array({{{"node-name", "disk0-file"}, {"image", {{"virtual-size", 1}}}},
                                {{"node-name", "disk0"}, {"image", {{"virtual-size", 4096}}}}}));
    else
      c.reply(cmd, json::object());
  });
  auto q = make();
  q->connect_sync(sock);
  QmpCommands cmds(*q);
  auto st = cmds.query_status();
  EXPECT_EQ(st.status, "paused");
  EXPECT_FALSE(st.running);
  cmds.cont();
  cmds.stop();
  cmds.system_powerdown();
  cmds.system_reset();
  cmds.screendump("/tmp/s.png");
  auto jobs = cmds.query_jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].error, "EIO");
  EXPECT_EQ(jobs[0].total_progress, 10u);
  auto bj = cmds.query_block_jobs();
  ASSERT_EQ(bj.size(), 1u);
  EXPECT_EQ(bj[0].offset, 5u);
  EXPECT_EQ(cmds.node_virtual_size("disk0"), 4096u);
  EXPECT_THROW(cmds.node_virtual_size("nope"), QmpError);
  cmds.blockdev_add_qcow2("t", "/snap.qcow2");
  cmds.blockdev_backup_full("j", "disk0", "t");
  cmds.quit();

  auto got = server.received();
  auto find = [&](const std::string& name) {
    for (const auto& c : got)
      if (c["execute"] == name) return c;
    return json();
  };
  EXPECT_EQ(find("screendump")["arguments"], (json{{"filename", "/tmp/s.png"}, {"format", "png"}}));
  EXPECT_EQ(find("blockdev-add")["arguments"],
            (json{{"driver", "qcow2"}, {"node-name", "t"},
                  {"file", {{"driver", "file"}, {"filename", "/snap.qcow2"}}}}));
  EXPECT_EQ(find("blockdev-backup")["arguments"],
            (json{{"job-id", "j"}, {"device", "disk0"}, {"target", "t"}, {"sync", "full"},
                  {"auto-dismiss", false}}));
  EXPECT_EQ(find("query-named-block-nodes")["arguments"], (json{{"flat", true}}));
  EXPECT_FALSE(find("quit").is_null());
  EXPECT_FALSE(find("system_reset").is_null());
}
