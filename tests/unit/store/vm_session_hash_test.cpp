#include "store/vm_session_hash.h"

#include <gtest/gtest.h>

namespace vmshare::store {
namespace {

TEST(VmSessionHash, RoundTrip) {
  VmSession s{"vm1", 7, "debian", 4242, "running", 1700000000, 1700003600, "node-a",
              {{"vnc", "/run/x.sock"}, {"vmid", "shadow"}}};
  auto fields = to_hash_fields(s);
  ASSERT_EQ(fields.size(), 9u);  // the shadowing extra "vmid" is dropped
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"vmid", "vm1"}));
  std::vector<std::string> flat;
  for (auto& [k, v] : fields) {
    flat.push_back(k);
    flat.push_back(v);
  }
  auto back = from_hash_fields(flat);
  EXPECT_EQ(back.vmid, "vm1");
  EXPECT_EQ(back.user_id, 7);
  EXPECT_EQ(back.os_type, "debian");
  EXPECT_EQ(back.pid, 4242);
  EXPECT_EQ(back.status, "running");
  EXPECT_EQ(back.started_at, 1700000000);
  EXPECT_EQ(back.expires_at, 1700003600);
  EXPECT_EQ(back.node, "node-a");
  EXPECT_EQ(back.extra, (std::map<std::string, std::string>{{"vnc", "/run/x.sock"}}));
}

TEST(VmSessionHash, MalformedNumbersReadAsZero) {
  auto s = from_hash_fields({"user_id", "abc", "pid", "12x", "started_at", ""});
  EXPECT_EQ(s.user_id, 0);
  EXPECT_EQ(s.pid, 0);
  EXPECT_EQ(s.started_at, 0);
}

}  // namespace
}  // namespace vmshare::store
