#include "obs/metrics_registry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "obs/metrics_json.h"
#include "obs/prometheus_text.h"

using namespace vmshare::obs;

TEST(MetricsRegistry, CountersGaugesAndLabels) {
  Registry r;
  auto& c = r.counter("t_requests_total", "Requests", {"path", "status"});
  c.with({"/a", "200"}).inc();
  c.with({"/a", "200"}).inc(2);
  c.with({"/b", "404"}).inc();
  c.with({"/b", "404"}).inc(-5);  // counters never go down
  auto& g = r.gauge("t_temp", "Temperature");
  g.get().set(3.5);
  g.get().dec();
  auto snap = r.collect();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].name, "t_requests_total");
  ASSERT_EQ(snap[0].series.size(), 2u);
  EXPECT_EQ(snap[0].series[0].value, 3);
  EXPECT_EQ(snap[0].series[0].labels[0], (std::pair<std::string, std::string>{"path", "/a"}));
  EXPECT_EQ(snap[0].series[1].value, 1);
  EXPECT_EQ(snap[1].series[0].value, 2.5);
}

TEST(MetricsRegistry, RejectsBadNamesAndShapes) {
  Registry r;
  EXPECT_THROW(r.counter("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "x", {"le"}), std::invalid_argument);
  auto& a = r.counter("same_total", "x", {"a"});
  EXPECT_EQ(&a, &r.counter("same_total", "x", {"a"}));
  EXPECT_THROW(r.gauge("same_total", "x", {"a"}), std::invalid_argument);
  EXPECT_THROW(r.counter("same_total", "x", {"b"}), std::invalid_argument);
  EXPECT_THROW(a.with({}), std::invalid_argument);
}

TEST(MetricsRegistry, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("t_seconds", "Durations", {}, {0.1, 1, 0.5});
  for (double v : {0.05, 0.1, 0.3, 0.7, 5.0}) h.get().observe(v);
  auto s = h.get().snapshot();
  ASSERT_EQ(s.buckets.size(), 4u);
  EXPECT_EQ(s.buckets[0], (std::pair<double, std::uint64_t>{0.1, 2}));  // le is inclusive
  EXPECT_EQ(s.buckets[1].second, 3u);
  EXPECT_EQ(s.buckets[2].second, 4u);
  EXPECT_TRUE(std::isinf(s.buckets[3].first));
  EXPECT_EQ(s.buckets[3].second, 5u);
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 6.15);
}

TEST(MetricsRegistry, RetainRemovesSeries) {
  Registry r;
  auto& g = r.gauge("t_user_rss_bytes", "RSS", {"user_id"});
  g.with({"1"}).set(10);
  g.with({"2"}).set(20);
  g.retain([](const LabelValues& v) { return v[0] == "2"; });
  EXPECT_EQ(g.size(), 1u);
  g.remove({"2"});
  EXPECT_EQ(g.size(), 0u);
}

TEST(MetricsRegistry, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.counter("t_total", "x", {"k"});
  auto& h = r.histogram("t_h", "x", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        c.with({std::to_string(i % 3)}).inc();
        h.with({std::to_string(t)}).observe(0.01);
      }
    });
  for (auto& t : threads) t.join();
  double total = 0;
  for (const auto& s : c.snapshot().series) total += s.value;
  EXPECT_EQ(total, 80000);
  std::uint64_t count = 0;
  for (const auto& s : h.snapshot().series) count += s.histogram.count;
  EXPECT_EQ(count, 80000u);
}

TEST(MetricsRegistry, CollectHooksRunFirst) {
  Registry r;
  auto& g = r.gauge("t_mirror", "x");
  int source = 7;
  r.on_collect([&] { g.get().set(source); });
  EXPECT_EQ(r.collect()[0].series[0].value, 7);
}

TEST(PrometheusText, FormatsFamiliesWithEscaping) {
  Registry r;
  r.counter("t_total", "Help with \\ and\nnewline", {"path"}).with({"a\"b\\c\nd"}).inc();
  r.gauge("t_gauge", "G").get().set(0.25);
  auto& h = r.histogram("t_h_seconds", "H", {"op"}, {0.5, 1});
  h.with({"read"}).observe(0.7);
  const auto text = prometheus_text(r.collect());
  EXPECT_EQ(text,
            "# HELP t_gauge G\n"
            "# TYPE t_gauge gauge\n"
            "t_gauge 0.25\n"
            "# HELP t_h_seconds H\n"
            "# TYPE t_h_seconds histogram\n"
            "t_h_seconds_bucket{op=\"read\",le=\"0.5\"} 0\n"
            "t_h_seconds_bucket{op=\"read\",le=\"1\"} 1\n"
            "t_h_seconds_bucket{op=\"read\",le=\"+Inf\"} 1\n"
            "t_h_seconds_sum{op=\"read\"} 0.7\n"
            "t_h_seconds_count{op=\"read\"} 1\n"
            "# HELP t_total Help with \\\\ and\\nnewline\n"
            "# TYPE t_total counter\n"
            "t_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(PrometheusText, FormatsSpecialValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(12345678), "12345678");
  EXPECT_EQ(format_value(1.5), "1.5");
  EXPECT_EQ(format_value(NAN), "NaN");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
  EXPECT_EQ(format_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_value(1e20), "1e+20");
}

TEST(MetricsJson, MirrorsTheRegistry) {
  Registry r;
  r.counter("t_total", "Requests", {"path"}).with({"/x"}).inc(2);
  r.histogram("t_h", "H", {}, {1}).get().observe(0.5);
  auto j = metrics_json(r.collect());
  EXPECT_EQ(j["t_total"]["type"], "counter");
  EXPECT_EQ(j["t_total"]["series"][0]["labels"]["path"], "/x");
  EXPECT_EQ(j["t_total"]["series"][0]["value"], 2);
  EXPECT_EQ(j["t_h"]["series"][0]["buckets"]["1"], 1);
  EXPECT_EQ(j["t_h"]["series"][0]["buckets"]["+Inf"], 1);
  EXPECT_EQ(j["t_h"]["series"][0]["count"], 1);
}
