// Hot reload: a changed catalog that parses is applied; a broken or missing one keeps the old.
#include "vm/catalog_watcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace vmshare::vm;
using namespace std::chrono_literals;

namespace {

std::string with(const std::string& names) {
  std::string out = R"({"profiles":[)";
  std::string sep;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += sep + R"({"name":")" + names.substr(i, 1) + R"(","base_image":"/a.qcow2","memory_mb":256,"cpus":1})";
    sep = ",";
  }
  return out + "]}";
}

// As `vmshare image` writes it: a new file renamed over the old one.
void replace(const std::string& path, const std::string& text) {
  test::write_file(path + ".tmp", text);
  std::rename((path + ".tmp").c_str(), path.c_str());
}

}  // namespace

TEST(CatalogWatcher, AppliesEachChangeThatParses) {
  test::TempDir dir;
  const auto path = dir / "catalog.json";
  test::write_file(path, with("a"));
  std::vector<std::size_t> applied;
  CatalogWatcher w(path, [&](Catalog c) { applied.push_back(c.profiles().size()); }, 1h);
  EXPECT_FALSE(w.poll());  // unchanged since start-up
  replace(path, with("ab"));
  EXPECT_TRUE(w.poll());
  EXPECT_FALSE(w.poll());
  replace(path, with("abc"));
  EXPECT_TRUE(w.poll());
  EXPECT_EQ(applied, (std::vector<std::size_t>{2, 3}));
}

TEST(CatalogWatcher, ABrokenOrMissingCatalogKeepsThePreviousOne) {
  test::TempDir dir;
  const auto path = dir / "catalog.json";
  test::write_file(path, with("a"));
  int applied = 0;
  CatalogWatcher w(path, [&](Catalog) { ++applied; }, 1h);
  replace(path, R"({"profiles":[{"name":"Bad"}]})");
  EXPECT_FALSE(w.poll());
  std::remove(path.c_str());
  EXPECT_FALSE(w.poll());
  EXPECT_EQ(applied, 0);
  replace(path, with("ab"));  // fixed: applied at once
  EXPECT_TRUE(w.poll());
  EXPECT_EQ(applied, 1);
}

TEST(CatalogWatcher, ItsThreadPicksUpAChange) {
  test::TempDir dir;
  const auto path = dir / "catalog.json";  // none yet: the server started without a catalog
  std::atomic<int> applied{0};
  {
    CatalogWatcher w(path, [&](Catalog) { ++applied; }, 20ms);
    replace(path, with("a"));
    for (int i = 0; i < 500 && applied == 0; ++i) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(applied, 1);
}
