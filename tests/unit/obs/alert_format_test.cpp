#include <gtest/gtest.h>

#include "obs/sentry.h"
#include "obs/telegram.h"

using namespace vmshare::obs;

TEST(SentryDsn, ParsesStoreEndpointAndKey) {
  auto d = parse_sentry_dsn("https://abc123@o42.ingest.sentry.io/4505");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->store_url, "https://o42.ingest.sentry.io/api/4505/store/");
  EXPECT_EQ(d->public_key, "abc123");
  EXPECT_EQ(d->project, "4505");
  auto p = parse_sentry_dsn("http://key:secret@127.0.0.1:9000/prefix/sub/7/");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->store_url, "http://127.0.0.1:9000/prefix/sub/api/7/store/");
  EXPECT_EQ(p->secret_key, "secret");
  EXPECT_EQ(sentry_auth_header(*p, 100),
            "Sentry sentry_version=7, sentry_client=vmshare/1.0, sentry_timestamp=100, sentry_key=key, "
            "sentry_secret=secret");
  for (const char* bad : {"", "abc@host/1", "ftp://k@host/1", "https://host/1", "https://k@host", "https://k@host/",
                          "https://@host/1"})
    EXPECT_FALSE(parse_sentry_dsn(bad)) << bad;
}

TEST(SentryEvent, HasMessageLevelAndTags) {
  auto e = sentry_event("ALERT: CPU", "warning", {{"condition", "cpu"}}, "node1", 1700000000);
  EXPECT_EQ(e["message"]["formatted"], "ALERT: CPU");
  EXPECT_EQ(e["level"], "warning");
  EXPECT_EQ(e["tags"]["condition"], "cpu");
  EXPECT_EQ(e["server_name"], "node1");
  EXPECT_EQ(e["event_id"].get<std::string>().size(), 32u);
}

TEST(Telegram, EscapesAndBuildsMessages) {
  EXPECT_EQ(html_escape("<b>a & \"b\"</b>"), "&lt;b&gt;a &amp; &quot;b&quot;&lt;/b&gt;");
  TelegramTarget t{"http://127.0.0.1:1234/", "123:ABC", "-100"};
  EXPECT_EQ(telegram_send_url(t), "http://127.0.0.1:1234/bot123:ABC/sendMessage");
  auto p = telegram_payload("-100", "hi");
  EXPECT_EQ(p["chat_id"], "-100");
  EXPECT_EQ(p["parse_mode"], "HTML");
  EXPECT_EQ(p["text"], "hi");
  const auto fb = feedback_html("<bob>", 7, "1 < 2 & <script>");
  EXPECT_NE(fb.find("<b>Feedback</b> from <code>&lt;bob&gt;</code> (id 7)\n1 &lt; 2 &amp; &lt;script&gt;"),
            std::string::npos);
  Alert a;
  a.condition = "cpu";
  a.value = 99;
  a.threshold = 90;
  const auto html = alert_html(a, "host<1>");
  EXPECT_NE(html.find("<code>host&lt;1&gt;</code>"), std::string::npos);
  EXPECT_NE(html.find("ALERT: CPU 99.0% &gt;= 90%"), std::string::npos);
  EXPECT_FALSE((TelegramTarget{"x", "", "1"}.configured()));
}
