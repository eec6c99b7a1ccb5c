#include "vm/child_env.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>

#include "test_util.h"
#include "vm/process.h"

using namespace vmshare::vm;

// A child sees the allowlist, whatever vmshare's own environment holds.
TEST(ChildEnv, ChildrenGetTheAllowlistOnly) {
  ::setenv("SECRET_KEY", "top-secret-key", 1);
  ::setenv("DATABASE_URL", "postgresql://u:pw@h/db", 1);
  test::TempDir dir;
  auto p = Process::spawn({{"env"}, dir / "out", true});
  ASSERT_TRUE(p.wait_for(std::chrono::seconds(10)));
  ::unsetenv("SECRET_KEY");
  ::unsetenv("DATABASE_URL");
  const auto out = test::read_file(dir / "out");
  EXPECT_EQ(out.find("top-secret-key"), std::string::npos) << out;
  EXPECT_EQ(out.find("DATABASE_URL"), std::string::npos) << out;
  std::string expected;
  for (const auto& e : child_environment()) expected += e + "\n";
  EXPECT_EQ(out, expected);
}

// Passed descriptors arrive at their numbers, even when sources and targets overlap; no other
// descriptor of ours reaches the child.
TEST(ChildEnv, PassedDescriptorsAndNothingElse) {
  test::TempDir dir;
  test::write_file(dir / "a", "A");
  test::write_file(dir / "b", "B");
  int a = ::open((dir / "a").c_str(), O_RDONLY | O_CLOEXEC), b = ::open((dir / "b").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(a, 3);
  SpawnOptions o;
  o.argv = {"sh", "-c", "cat <&4; cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"};
  o.log_path = dir / "out";
  o.pass_fds = {{a, 4}, {b, 3}};  // swapped on purpose
  auto p = Process::spawn(o);
  ASSERT_TRUE(p.wait_for(std::chrono::seconds(10)));
  ::close(a);
  ::close(b);
  // sh's own descriptor for reading /proc/self/fd may show up as one more number.
  const auto out = test::read_file(dir / "out");
  EXPECT_EQ(out.rfind("AB0 1 2 3 4 ", 0), 0u) << out;
  EXPECT_LE(out.size(), std::string("AB0 1 2 3 4 5 ").size()) << out;
}
