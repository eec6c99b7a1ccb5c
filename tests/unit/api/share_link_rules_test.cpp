// Share links' pure rules (issue 15): request bounds, the token's form and hash, and the
// decision whether a visitor gets in.
#include "api/share_link_rules.h"

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

namespace vmshare::api::share {
namespace {

using nlohmann::json;

TEST(ShareLinkRules, ExpiryFromFiveMinutesToADay) {
  EXPECT_THROW(check_minutes(4), BadShareRequest);
  EXPECT_NO_THROW(check_minutes(5));
  EXPECT_NO_THROW(check_minutes(1440));
  EXPECT_THROW(check_minutes(1441), BadShareRequest);
  EXPECT_THROW(check_minutes(-60), BadShareRequest);
  try {
    check_minutes(0);
  } catch (const BadShareRequest& e) {
    EXPECT_STREQ(e.what(), "minutes must be from 5 to 1440 (24 hours)");
  }
}

TEST(ShareLinkRules, CreateRequestDefaultsAndFields) {
  auto d = parse_create_request(json::object());
  EXPECT_EQ(d.mode, Mode::view_only) << "the safe default";
  EXPECT_EQ(d.minutes, 60);
  EXPECT_FALSE(d.require_sign_in);
  auto r = parse_create_request(json{{"mode", "control"}, {"minutes", 30}, {"sign_in", true}});
  EXPECT_EQ(r.mode, Mode::control);
  EXPECT_EQ(r.minutes, 30);
  EXPECT_TRUE(r.require_sign_in);
  auto form = parse_create_request(json{{"mode", "view_only"}, {"minutes", "15"}, {"sign_in", "on"}});
  EXPECT_EQ(form.minutes, 15);
  EXPECT_TRUE(form.require_sign_in);
}

TEST(ShareLinkRules, CreateRequestRefusesBadFields) {
  for (const auto& body : {json{{"mode", "admin"}}, json{{"mode", 1}}, json{{"minutes", "ten"}},
                           json{{"minutes", 7.5}}, json{{"minutes", 2}}, json{{"minutes", 100000}},
                           json{{"sign_in", "maybe"}}, json{{"minutes", json::array()}}})
    EXPECT_THROW(parse_create_request(body), BadShareRequest) << body.dump();
}

TEST(ShareLinkRules, Ids) {
  EXPECT_EQ(parse_id(json{{"id", 3}}), 3);
  EXPECT_EQ(parse_id(json{{"id", "42"}}), 42);
  for (const auto& body : {json::object(), json{{"id", 0}}, json{{"id", -1}}, json{{"id", "x"}}, json{{"id", true}}})
    EXPECT_THROW(parse_id(body), BadShareRequest) << body.dump();
}

TEST(ShareLinkRules, TokensAre256RandomBitsInHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = new_token();
    EXPECT_EQ(t.size(), 64u);
    EXPECT_TRUE(looks_like_token(t)) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_FALSE(looks_like_token(""));
  EXPECT_FALSE(looks_like_token(std::string(63, 'a')));
  EXPECT_FALSE(looks_like_token(std::string(64, 'A'))) << "upper case is not what we hand out";
  EXPECT_FALSE(looks_like_token(std::string(63, 'a') + "/"));
}

TEST(ShareLinkRules, TokenHashIsSha256Hex) {
  // SHA-256("abc"), FIPS 180-2's example.
  EXPECT_EQ(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto t = new_token();
  EXPECT_EQ(token_hash(t), token_hash(t));
  EXPECT_NE(token_hash(t), t);
  EXPECT_EQ(token_hash(t).size(), 64u);
}

TEST(ShareLinkRules, TokenFromTheSubprotocolList) {
  const std::string t(64, 'b');
  EXPECT_EQ(token_from_protocols("binary, vmshare-share." + t), t);
  EXPECT_EQ(token_from_protocols("vmshare-share." + t + ",binary"), t);
  EXPECT_EQ(token_from_protocols("binary"), "");
  EXPECT_EQ(token_from_protocols(""), "");
  EXPECT_EQ(token_from_protocols("xvmshare-share." + t), "");
}

TEST(ShareLinkRules, WhoGetsIn) {
  store::ShareLink link;
  link.expires_at = 2000;
  LinkFacts f{&link, 1000, true, false};
  EXPECT_EQ(decide(f), Verdict::ok);
  EXPECT_EQ(decide({nullptr, 1000, true, true}), Verdict::unknown);
  EXPECT_EQ(decide({&link, 2000, true, false}), Verdict::expired) << "expiry is exclusive";
  link.require_sign_in = true;
  EXPECT_EQ(decide(f), Verdict::sign_in_required);
  EXPECT_EQ(decide({&link, 1000, true, true}), Verdict::ok);
  link.revoked_at = 1500;
  EXPECT_EQ(decide({&link, 1600, true, true}), Verdict::revoked);
  // The VM's end revokes its links too: the visitor hears the real reason.
  EXPECT_EQ(decide({&link, 1600, false, true}), Verdict::vm_ended);
}

TEST(ShareLinkRules, RefusalsHaveStatusesAndSentences) {
  EXPECT_EQ(status_of(Verdict::unknown), 404);
  EXPECT_EQ(status_of(Verdict::revoked), 410);
  EXPECT_EQ(status_of(Verdict::expired), 410);
  EXPECT_EQ(status_of(Verdict::vm_ended), 410);
  EXPECT_EQ(status_of(Verdict::sign_in_required), 401);
  for (auto v : {Verdict::unknown, Verdict::revoked, Verdict::expired, Verdict::vm_ended, Verdict::sign_in_required})
    EXPECT_FALSE(explain(v).empty());
  EXPECT_EQ(LinkRefused(Verdict::expired).what(), explain(Verdict::expired));
}

}  // namespace
}  // namespace vmshare::api::share
