// ConsoleViewers: revoking a share link closes its viewers, including one that registers after
// the revoke (its link was checked just before it).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vm/console_viewers.h"

namespace vmshare::vm {
namespace {

ViewerSpec through_link(std::int64_t link_id) {
  ViewerSpec spec;
  spec.vmid = "vm-review";
  spec.mode = ViewerMode::view_only;
  spec.link_id = link_id;
  return spec;
}

TEST(ConsoleViewers, ClosingALinkClosesItsViewersOnly) {
  ConsoleViewers viewers;
  std::vector<std::string> closed_a, closed_b;
  const auto a = viewers.add(through_link(7), nullptr, [&](const std::string& r) { closed_a.push_back(r); });
  const auto b = viewers.add(through_link(8), nullptr, [&](const std::string& r) { closed_b.push_back(r); });
  EXPECT_EQ(viewers.close_link(7, "share link revoked"), 1u);
  EXPECT_EQ(closed_a, std::vector<std::string>{"share link revoked"});
  EXPECT_TRUE(closed_b.empty());
  viewers.remove(a);
  viewers.remove(b);
}

TEST(ConsoleViewers, AViewerRegisteringAfterItsLinkWasRevokedIsClosedAtOnce) {
  ConsoleViewers viewers;
  EXPECT_EQ(viewers.close_link(9, "share link revoked"), 0u);  // nobody watching yet
  std::vector<std::string> late, other;
  const auto id = viewers.add(through_link(9), nullptr, [&](const std::string& r) { late.push_back(r); });
  EXPECT_EQ(late, std::vector<std::string>{"share link revoked"});
  const auto owner = viewers.add(through_link(0), nullptr, [&](const std::string& r) { other.push_back(r); });
  EXPECT_TRUE(other.empty()) << "a console that came through no link is not affected";
  viewers.remove(id);
  viewers.remove(owner);
}

}  // namespace
}  // namespace vmshare::vm
